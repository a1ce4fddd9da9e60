import dagster as dg

from metpipeline.harmonise.assets import harmonised_offences

defs = dg.Definitions(assets=[harmonised_offences])
