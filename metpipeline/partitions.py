"""Monthly partitions: one per calendar month in London time, from the first month the DataMart holds."""

import dagster as dg

from metpipeline import settings

# The embedded DataMart is seeded from 2022-01 by default; production sets METPIPELINE_FIRST_MONTH to the
# first month its DataMart holds (CRIS history reaches back to 2010-04 for the benchmark's back-fill).
FIRST_MONTH = settings.first_month()

monthly_partitions = dg.MonthlyPartitionsDefinition(
    start_date=FIRST_MONTH,
    timezone="Europe/London",
    fmt="%Y-%m",
    end_offset=0,
)
