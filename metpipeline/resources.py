"""Dagster resources: the DataMart, the pipeline's state database, the work area, the bucket, governance.

Governance is deployment, not run config. Every location and secret is read from the deployment's
environment (settings.py) when the resource is used; the resources have no config fields, so Dagster refuses
any run config that tries to set them (`resources: {governance: {config: …}}` on the Launchpad is an
"unexpected config entry" and the run is never created). The UI shows no value, because there is none to
show. A missing or malformed value fails with a message that names the variable.
"""

from contextlib import ExitStack
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TypedDict

import dagster as dg
import sqlalchemy as sa
from pydantic import PrivateAttr

from metpipeline import settings
from metpipeline.cellstore import CellsInputManager
from metpipeline.db import check_reachable, make_engine, make_state_engine
from metpipeline.months import locks as month_locks
from metpipeline.months.arithmetic import month_range
from metpipeline.workarea import WorkArea


def _doc(summary: str, *names: str) -> str:
    which = f"variable {names[0]}" if len(names) == 1 else f"variables {', '.join(names)}"
    return f"{summary} Set by the deployment (environment {which}; README, Configuration); not by run config."


class DataMartResource(dg.ConfigurableResource):
    __doc__ = _doc("The MPS DataMart (read only).", settings.DATAMART_URL.name)

    _engine: sa.Engine | None = PrivateAttr(default=None)

    @property
    def url(self) -> str:
        return settings.DATAMART_URL.value() or ""

    def engine(self) -> sa.Engine:
        if self._engine is None:
            settings.check_sqlalchemy_url(settings.DATAMART_URL.name, self.url)
            engine = make_engine(self.url, settings.DATAMART_URL.name)
            check_reachable(engine, settings.DATAMART_URL.name)
            self._engine = engine
        return self._engine


class StateResource(dg.ConfigurableResource):
    __doc__ = _doc(
        "The pipeline's own database: approval ledger and release records.", settings.STATE_URL.name
    )

    _engine: sa.Engine | None = PrivateAttr(default=None)

    @property
    def url(self) -> str:
        return settings.STATE_URL.value() or ""

    def engine(self) -> sa.Engine:
        if self._engine is None:
            settings.check_sqlalchemy_url(settings.STATE_URL.name, self.url)
            if self.url.startswith("sqlite:///"):
                from pathlib import Path

                Path(self.url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
            engine = make_state_engine(self.url)
            check_reachable(engine, settings.STATE_URL.name)  # a driver's error, redacted, in one line
            self._engine = engine
        return self._engine


class WorkAreaResource(dg.ConfigurableResource):
    __doc__ = _doc("Intermediate files between stages (see workarea.py).", settings.WORK_DIR.name)

    _locks: ExitStack | None = PrivateAttr(default=None)

    @property
    def root(self) -> str:
        return settings.WORK_DIR.value() or ""

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # A run that writes months holds their locks for its whole life (months/locks.py).
        run = context.dagster_run
        months = _months_of(run.tags) if run is not None else []
        if months:
            self._locks = ExitStack()
            try:
                month_locks.hold(Path(self.root), months, run.run_id, self._locks)  # type: ignore[union-attr]
            except BaseException:
                self._locks.close()
                raise

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._locks is not None:
            self._locks.close()

    @cached_property
    def area(self) -> WorkArea:
        return WorkArea(self.root)


def _months_of(tags) -> list[str]:
    """The months a run writes: its partition, or every month of its partition range."""
    if tags.get("dagster/partition"):
        return [tags["dagster/partition"]]
    start, end = (
        tags.get("dagster/asset_partition_range_start"),
        tags.get("dagster/asset_partition_range_end"),
    )
    if start and end:
        return month_range(start, end)
    return []


class BucketResource(dg.ConfigurableResource):
    __doc__ = _doc(
        "Where releases are published: `s3://bucket/prefix` (boto3) or a local directory, same layout.",
        settings.BUCKET_URL.name,
        settings.S3_ENDPOINT_URL.name,
    )

    @property
    def url(self) -> str:
        return settings.BUCKET_URL.value() or ""

    @property
    def endpoint_url(self) -> str:
        return settings.S3_ENDPOINT_URL.value() or ""

    def validated_url(self) -> str:
        return settings.check_bucket_url(settings.BUCKET_URL.name, self.url)


class GovernanceResource(dg.ConfigurableResource):
    __doc__ = _doc(
        "What governs a release: the disclosure policy, the data-owner registry, the ledger's key and the "
        "sign-in proxy.",
        settings.POLICY_FILE.name,
        settings.OWNERS_FILE.name,
        settings.LEDGER_KEY_FILE.name,
        settings.IDENTITY_KEY_FILE.name,
        settings.IDENTITY_HEADER.name,
    )

    @property
    def policy_file(self) -> str:
        return settings.POLICY_FILE.value() or ""

    @property
    def owners_file(self) -> str:
        return settings.OWNERS_FILE.value() or ""

    def registry(self):
        """The owners registry in force, read now (a change to the file applies to the next check)."""
        from metpipeline.governance.registry import load_registry

        return load_registry(self.owners_file)

    def ledger_key(self, say=print) -> bytes:
        from metpipeline.governance.seal import load_key

        return load_key(say)

    def identity_key(self, say=print) -> bytes:
        """The key of the runs' identity seals, held by the webserver and the code location only."""
        from metpipeline.governance.runseal import load_key

        return load_key(say)

    @property
    def identity_header(self) -> str:
        """The sign-in proxy's user header; empty when the deployment has no proxy (embedded default)."""
        return (settings.IDENTITY_HEADER.value() or "").strip()

    @property
    def checklist_file(self) -> str:
        return settings.CHECKLIST_FILE.value() or ""

    @property
    def min_volume_ratio(self) -> float:
        """A month below this share of its trailing mean blocks the release (month_volume_plausible)."""
        return settings.MIN_VOLUME_RATIO.get()

    @property
    def reminder_days(self) -> int:
        return settings.REMINDER_DAYS.get()

    @property
    def ui_base_url(self) -> str:
        """The Dagster UI's address as owners reach it: the links in what they are sent."""
        return (settings.UI_BASE_URL.get() or "").rstrip("/")


@dataclass(frozen=True)
class Publication:
    """How the public's files are written and when they go out, as the deployment sets it."""

    layout: str  # the current layout of the Datastore files (datasets/layouts.py)
    previous_layout: str | None  # published beside it while deprecated, or none
    previous_layout_until: str  # the last release month that carries the previous layout
    workbook_max_cells: int  # larger tables are CSV only
    contact: str  # the public's contact (cover sheet, workbook)
    public_base_url: str  # the bucket's public address ('' when links are relative)
    release_time: str  # HH:MM London, or 'immediate'
    release_cron: str  # the release calendar: when the next release is due (catalog.json)
    max_attempts: int  # publish runs tried before a candidate needs attention
    backoff_seconds: int  # wait before the first retry (doubles per attempt)


class PublicationResource(dg.ConfigurableResource):
    __doc__ = _doc(
        "How the public's files are written and when they go out: layouts, spreadsheets, contact, public "
        "address, release time and calendar, publication retries.",
        settings.LAYOUT.name,
        settings.PREVIOUS_LAYOUT.name,
        settings.PREVIOUS_LAYOUT_UNTIL.name,
        settings.WORKBOOK_MAX_CELLS.name,
        settings.CONTACT.name,
        settings.PUBLIC_BASE_URL.name,
        settings.RELEASE_TIME.name,
        settings.RELEASE_CRON.name,
        settings.PUBLISH_MAX_ATTEMPTS.name,
        settings.PUBLISH_BACKOFF_SECONDS.name,
    )

    def settings(self) -> Publication:
        """The settings, read and parsed now (a malformed one is a ConfigError naming it)."""
        return Publication(
            layout=settings.LAYOUT.get(),
            previous_layout=settings.PREVIOUS_LAYOUT.get(),
            previous_layout_until=settings.PREVIOUS_LAYOUT_UNTIL.get(),
            workbook_max_cells=settings.WORKBOOK_MAX_CELLS.get(),
            contact=settings.CONTACT.get(),
            public_base_url=(settings.PUBLIC_BASE_URL.get() or "").rstrip("/"),
            release_time=settings.RELEASE_TIME.get(),
            release_cron=settings.RELEASE_CRON.get(),
            max_attempts=settings.PUBLISH_MAX_ATTEMPTS.get(),
            backoff_seconds=settings.PUBLISH_BACKOFF_SECONDS.get(),
        )


class DefaultResources(TypedDict):
    """The resources every job gets, by the names the assets and checks ask for."""

    datamart: DataMartResource
    state: StateResource
    workarea: WorkAreaResource
    bucket: BucketResource
    governance: GovernanceResource
    publication: PublicationResource
    cells_input_manager: CellsInputManager


def default_resources() -> DefaultResources:
    """The resources, each reading its settings from the environment (or the embedded defaults) when used."""
    return {
        "datamart": DataMartResource(),
        "state": StateResource(),
        "workarea": WorkAreaResource(),
        "bucket": BucketResource(),
        "governance": GovernanceResource(),
        "publication": PublicationResource(),
        "cells_input_manager": CellsInputManager(),  # = cellstore.CELLS_INPUT_MANAGER
    }
