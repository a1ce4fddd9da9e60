"""Report stage: the release report asset."""

import dagster as dg

from metpipeline.report.assets import release_report

defs = dg.Definitions(assets=[release_report])
