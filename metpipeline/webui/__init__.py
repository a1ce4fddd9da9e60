"""What `metpipeline ui` serves beside the Dagster UI: the data owners' decision page."""
