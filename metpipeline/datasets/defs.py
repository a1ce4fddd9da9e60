import dagster as dg

from metpipeline.datasets.assets import borough_dataset, flagged_dataset, lsoa_dataset, ward_dataset

defs = dg.Definitions(assets=[borough_dataset, ward_dataset, lsoa_dataset, flagged_dataset])
