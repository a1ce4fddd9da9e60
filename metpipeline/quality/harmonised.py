"""Suite `harmonised`: every counted crime classified, in its month, in a published borough."""

import pandas as pd

from metpipeline.reference import category_sensitivity, published_borough_names

SUITE_VERSION = "harmonised-1.0.0"


def every_record_classified(frame: pd.DataFrame, month: str):
    import great_expectations.expectations as gxe

    view = pd.DataFrame({"mps_major": frame["mps_major"], "mps_minor": frame["mps_minor"]})
    view["category"] = frame["mps_major"].astype("string") + " / " + frame["mps_minor"].astype("string")
    known = [f"{a} / {b}" for a, b in category_sensitivity()]
    return [
        (
            view,
            [
                gxe.ExpectColumnValuesToNotBeNull(column="mps_major"),
                gxe.ExpectColumnValuesToNotBeNull(column="mps_minor"),
                gxe.ExpectColumnValuesToBeInSet(column="category", value_set=known),
            ],
        )
    ]


def month_is_partition(frame: pd.DataFrame, month: str):
    import great_expectations.expectations as gxe

    return [
        (
            frame[["month"]],
            [
                gxe.ExpectColumnValuesToNotBeNull(column="month"),
                gxe.ExpectColumnValuesToBeInSet(column="month", value_set=[month]),
            ],
        )
    ]


def borough_is_published(frame: pd.DataFrame, month: str):
    import great_expectations.expectations as gxe

    names = list(published_borough_names())
    return [
        (
            frame[["borough_name"]],
            [
                gxe.ExpectColumnValuesToNotBeNull(column="borough_name"),
                gxe.ExpectColumnValuesToBeInSet(column="borough_name", value_set=names),
            ],
        )
    ]


RULES = {
    "every_record_classified": every_record_classified,
    "month_is_partition": month_is_partition,
    "borough_is_published": borough_is_published,
}
# Rules whose expectations name the month checked (the others judge a row the same in every month).
MONTH_RULES = {"month_is_partition"}
# The harmonised columns each rule reads (the check reads only these from the file).
COLUMNS = {
    "every_record_classified": ["mps_major", "mps_minor"],
    "month_is_partition": ["month"],
    "borough_is_published": ["borough_name"],
}
