"""Disclosure stage: the `disclosed_datasets` asset and its blocking checks."""

import dagster as dg

from metpipeline.disclosure.assets import disclosed_datasets
from metpipeline.disclosure.checks import CHECKS

defs = dg.Definitions(assets=[disclosed_datasets], asset_checks=CHECKS)
