import dagster as dg

from metpipeline.extract.assets import connect_extract, cris_extract

defs = dg.Definitions(assets=[cris_extract, connect_extract])
