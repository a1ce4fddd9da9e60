"""Dagster resources: the DataMart, the pipeline's state database, the work area and the bucket.

Locations and secrets reach these only through configuration (see settings.py); a missing or malformed
value fails at start-up with a message that names the variable.
"""

from functools import cached_property
from typing import TypedDict

import dagster as dg
import sqlalchemy as sa
from pydantic import PrivateAttr

from metpipeline import settings
from metpipeline.db import check_reachable, make_engine
from metpipeline.workarea import WorkArea


class DataMartResource(dg.ConfigurableResource):
    """The MPS DataMart (read only). SQL Server in production, SQLite embedded, PostgreSQL in tests."""

    url: str
    _engine: sa.Engine | None = PrivateAttr(default=None)

    def engine(self) -> sa.Engine:
        if self._engine is None:
            settings.check_sqlalchemy_url(settings.DATAMART_URL.name, self.url)
            engine = make_engine(self.url)
            check_reachable(engine, settings.DATAMART_URL.name)
            self._engine = engine
        return self._engine


class StateResource(dg.ConfigurableResource):
    """The pipeline's own database: approval ledger and release records."""

    url: str
    _engine: sa.Engine | None = PrivateAttr(default=None)

    def engine(self) -> sa.Engine:
        if self._engine is None:
            settings.check_sqlalchemy_url(settings.STATE_URL.name, self.url)
            if self.url.startswith("sqlite:///"):
                from pathlib import Path

                Path(self.url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
            self._engine = make_engine(self.url)
        return self._engine


class WorkAreaResource(dg.ConfigurableResource):
    """Intermediate files between stages (see workarea.py)."""

    root: str

    @cached_property
    def area(self) -> WorkArea:
        return WorkArea(self.root)


class BucketResource(dg.ConfigurableResource):
    """Where releases are published: `s3://bucket/prefix` (boto3) or a local directory, same layout."""

    url: str
    endpoint_url: str = ""

    def validated_url(self) -> str:
        return settings.check_bucket_url(settings.BUCKET_URL.name, self.url)


class GovernanceResource(dg.ConfigurableResource):
    """Files that govern a release: the disclosure policy and the data-owner registry."""

    policy_file: str
    owners_file: str


class DefaultResources(TypedDict):
    """The resources every job gets, by the names the assets and checks ask for."""

    datamart: DataMartResource
    state: StateResource
    workarea: WorkAreaResource
    bucket: BucketResource
    governance: GovernanceResource


def default_resources(resolved: bool = False) -> DefaultResources:
    """Resources wired to the environment (or the embedded defaults).

    For the code location the values are `dg.EnvVar`s (the UI shows the variable, never the value), which
    Dagster resolves inside a run. Code outside a run (the CLI) asks for `resolved=True`: literal values.
    """

    def value(setting: settings.Setting):
        return (setting.value() or "") if resolved else setting.for_resource()

    return {
        "datamart": DataMartResource(url=value(settings.DATAMART_URL)),
        "state": StateResource(url=value(settings.STATE_URL)),
        "workarea": WorkAreaResource(root=value(settings.WORK_DIR)),
        "bucket": BucketResource(
            url=value(settings.BUCKET_URL), endpoint_url=value(settings.S3_ENDPOINT_URL)
        ),
        "governance": GovernanceResource(
            policy_file=value(settings.POLICY_FILE), owners_file=value(settings.OWNERS_FILE)
        ),
    }
