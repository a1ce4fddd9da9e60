"""Monthly partitions: one per calendar month in London time, from the first month the DataMart holds."""

import warnings

import dagster as dg

from metpipeline import settings
from metpipeline.months.arithmetic import months_between

# The embedded DataMart is seeded from 2022-01 by default; production sets METPIPELINE_FIRST_MONTH to the
# first month its DataMart holds (CRIS history reaches back to 2010-04 for the benchmark's back-fill).
FIRST_MONTH = settings.FIRST_MONTH.get()

monthly_partitions = dg.MonthlyPartitionsDefinition(
    start_date=FIRST_MONTH,
    timezone="Europe/London",
    fmt="%Y-%m",
    end_offset=0,
)


def _months_back(end_offset: int) -> dg.TimeWindowPartitionMapping:
    """Every partition from the first one to `end_offset` months from the downstream month: a time window
    reaching back further than any partition can (from 1900), which Dagster clips to the partitions that
    exist."""
    with warnings.catch_warnings():
        # `allow_nonexistent_upstream_partitions` is marked beta; the clipping is what this mapping needs.
        warnings.simplefilter("ignore", category=dg.BetaWarning)
        return dg.TimeWindowPartitionMapping(
            start_offset=-months_between("1900-01", "2100-01"),
            end_offset=end_offset,
            allow_nonexistent_upstream_partitions=True,
        )


# A dataset of month M reads the cells of every month first..M; the disclosure of M every earlier release.
FROM_FIRST_MONTH = _months_back(0)
EARLIER_MONTHS = _months_back(-1)


# A back-fill of a range of months launched from the UI is one run, as the command line's is: extraction
# shares its work across months only within one run (months/shared_work.py), and one run holds every
# month's lock.
ONE_RUN = dg.BackfillPolicy.single_run()
