"""Quality expectations (Great Expectations 1.x suites in code) run as Dagster asset checks."""
