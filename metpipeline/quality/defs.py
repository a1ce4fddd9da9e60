"""Quality stage: Great Expectations suites as asset checks on the extract, harmonised and dataset assets."""

import dagster as dg

from metpipeline.quality.checks import CHECKS

defs = dg.Definitions(asset_checks=CHECKS)
