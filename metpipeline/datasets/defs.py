import dagster as dg

from metpipeline.datasets.assets import DATASET_ASSETS, monthly_cells

defs = dg.Definitions(assets=[monthly_cells, *DATASET_ASSETS.values()])
