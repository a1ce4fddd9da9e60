"""Smoke test of the code location: the whole flow loads, as `dagster dev` loads it from workspace.yaml."""

import dagster as dg

from metpipeline.catalogue import CATALOGUE


def test_code_location_loads_the_whole_flow():
    from metpipeline.definitions import defs

    repo = defs.get_repository_def()
    assert {"monthly_release_job", "backfill_job", "record_approval", "publish_job"} <= set(repo.job_names)
    assert repo.get_schedule_def("monthly_backfill_then_release").job_name == "backfill_job"
    assert repo.get_sensor_def("approval_sensor").job_name == "publish_job"
    assert repo.get_sensor_def("release_after_backfill") is not None

    graph = repo.asset_graph
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    flow = [
        "cris_extract",
        "connect_extract",
        "harmonised_offences",
        "monthly_cells",
        *(s.asset_name for s in CATALOGUE.values()),
        "disclosed_datasets",
        "release_report",
        "release_candidates",
    ]
    assert set(flow) <= keys
    # Each stage depends on the one before it, so nothing is staged that did not pass every stage.
    assert dg.AssetKey("harmonised_offences") in graph.get(dg.AssetKey("monthly_cells")).parent_keys
    assert dg.AssetKey("monthly_cells") in graph.get(dg.AssetKey("borough_dataset")).parent_keys
    assert dg.AssetKey("release_report") in graph.get(dg.AssetKey("release_candidates")).parent_keys

    checks = list(graph.asset_check_keys)
    blocking = [k for k in checks if graph.get_check_spec(k).blocking]
    assert len(blocking) >= 30, "quality and disclosure checks must block the release"
    names = {k.name for k in checks}
    assert {"disclosure_threshold", "disclosure_differencing_audit", "disclosure_allowlist"} <= names
    # The release job runs in one process (the multiprocess executor re-imports the code per step).
    assert repo.get_job("monthly_release_job").executor_def.name == "in_process"


def test_launchpad_approval_config_defaults_to_the_month_the_schedule_releases():
    from metpipeline.approval.jobs import ApprovalConfig
    from metpipeline.months.partitions import monthly_partitions

    fields = ApprovalConfig.model_fields
    assert fields["month"].default == monthly_partitions.get_last_partition_key()
    assert fields["decision"].default.value == "approve"
    # The hash and the approver must be typed by the owner: no default could stand for what they reviewed.
    assert fields["candidate_hash"].is_required() and fields["approver"].is_required()


def test_ready_by_default_every_check_described_schedule_and_sensors_running():
    from metpipeline.definitions import defs

    repo = defs.get_repository_def()
    graph = repo.asset_graph
    undescribed = [k.name for k in graph.asset_check_keys if not (graph.get_check_spec(k).description or "")]
    assert undescribed == []
    assert (
        repo.get_schedule_def("monthly_backfill_then_release").default_status
        == dg.DefaultScheduleStatus.RUNNING
    )
    for name in ("approval_sensor", "approval_reminder", "release_after_backfill"):
        assert repo.get_sensor_def(name).default_status == dg.DefaultSensorStatus.RUNNING, name


def test_the_shipped_instance_settings_have_no_community_prompt_and_monitor_runs():
    from pathlib import Path

    import yaml

    shipped = yaml.safe_load((Path(__file__).resolve().parents[1] / "dagster.yaml").read_text())
    assert shipped["nux"] == {"enabled": False}
    assert shipped["run_monitoring"]["enabled"] is True
    limits = shipped["run_coordinator"]["config"]["tag_concurrency_limits"]
    assert {"key": "dagster/partition", "value": {"applyLimitPerUniqueValue": True}, "limit": 1} in limits


def _upstream_months(graph, child: str, parent: str, month: str) -> list[str]:
    """The partitions of `parent` that `child[month]` declares it reads."""
    child_key, parent_key = dg.AssetKey(child), dg.AssetKey(parent)
    mapping = graph.get_partition_mapping(child_key, parent_key)
    partitions = graph.get(child_key).partitions_def
    result = mapping.get_upstream_mapped_partitions_result_for_partitions(
        partitions.subset_with_partition_keys([month]), partitions, graph.get(parent_key).partitions_def
    )
    return sorted(result.partitions_subset.get_partition_keys())


def test_every_dataset_asset_declares_the_months_it_reads():
    """A dataset asset of month M reads the cells of every month first..M (the 24-month and historical
    windows); the disclosure of M reads every earlier release. Both are declared, so the UI's lineage and
    staleness follow a revised month to every release that contains it."""
    from metpipeline.catalogue import CATALOGUE
    from metpipeline.definitions import defs
    from metpipeline.months.arithmetic import add_months, month_range
    from metpipeline.months.partitions import FIRST_MONTH, monthly_partitions

    graph = defs.get_repository_def().asset_graph
    last = monthly_partitions.get_last_partition_key()
    months = [FIRST_MONTH, add_months(FIRST_MONTH, 1), add_months(FIRST_MONTH, 30), last]
    dataset_assets = {
        k.to_user_string() for k in graph.get_all_asset_keys() if graph.get(k).group_name == "datasets"
    }
    assert dataset_assets == {"monthly_cells"} | {spec.asset_name for spec in CATALOGUE.values()}
    for spec in CATALOGUE.values():
        parents = {k.to_user_string() for k in graph.get(dg.AssetKey(spec.asset_name)).parent_keys}
        assert parents == {"monthly_cells"}, spec.asset_name  # no undeclared source
        for month in months:
            assert _upstream_months(graph, spec.asset_name, "monthly_cells", month) == month_range(
                FIRST_MONTH, month
            ), (spec.asset_name, month)
    for month in months:
        earlier = month_range(FIRST_MONTH, add_months(month, -1))
        assert _upstream_months(graph, "disclosed_datasets", "disclosed_datasets", month) == earlier
    # The month's own stages read the month alone.
    for child, parent in [
        ("monthly_cells", "harmonised_offences"),
        ("disclosed_datasets", "borough_dataset"),
    ]:
        assert _upstream_months(graph, child, parent, months[2]) == [months[2]]


def test_both_jobs_return_freed_memory_after_a_step_that_grew_the_process(monkeypatch):
    """The README says memory a step frees is returned after any step that grew the process: both jobs
    carry the hook, and the hook returns memory after 64 MiB of growth since the previous step, not after
    every step (a return takes tens of milliseconds on a large heap)."""
    from metpipeline.definitions import defs
    from metpipeline.runs import jobs

    for name in ("monthly_release_job", "backfill_job"):
        assert jobs.freed_memory_hook in defs.resolve_job_def(name).hook_defs
    sizes, returned = iter([500, 500, 540, 540, 700, 600]), []
    monkeypatch.setattr(jobs, "resident_mib", lambda: next(sizes))
    monkeypatch.setattr(jobs, "release_pools", lambda: returned.append(True))
    monkeypatch.setattr(jobs, "_resident_after_last_step", [0])
    hook = jobs.freed_memory_hook.decorated_fn
    hook(None)  # 500 after a start at 0: grown, returned; 500 left
    hook(None)  # 540: 40 MiB more, kept
    hook(None)  # 700: 160 MiB more than after the previous step, returned; 600 left
    assert len(returned) == 2 and jobs._resident_after_last_step == [600]


def test_the_published_datasets_are_assets_downstream_of_the_candidates():
    from metpipeline.catalogue import CATALOGUE
    from metpipeline.definitions import defs

    graph = defs.get_repository_def().asset_graph
    for dataset in CATALOGUE:
        key = dg.AssetKey(f"published_{dataset}")
        assert graph.get(key).parent_keys == {dg.AssetKey("release_candidates")}
        assert graph.get(key).partitions_def is not None
