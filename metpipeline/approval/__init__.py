"""Release candidates and the data owner's decision on them (append-only ledger, Launchpad job, sensor)."""
