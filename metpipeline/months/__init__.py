"""Months: the keys every stage partitions by (arithmetic), the Dagster partitions, one run per month at a
time (locks), and a back-fill's month-by-month work shared with helper processes (shared_work)."""
