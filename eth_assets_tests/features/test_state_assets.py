"""feature_state wired through Dagster on hand-built data: it builds its partitions' days, a lake
day rewritten later is repaired by the next run whatever its partition, and its blocking check
fails naming a day whose state disagrees with the lake."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from dagster import DagsterInstance, materialize

from eth_assets.features import state_assets
from eth_assets.features.feature_assets import address_features, address_universe
from eth_assets.features.state_assets import STATE_CHECK, feature_state
from eth_assets.features.state_run import StateRefresh, state_folder
from eth_assets.features.state_store import compare_with_lake, lake_days, read_manifests
from eth_assets.labels.label_assets import illicit_labels
from eth_assets.lake.raw_assets import raw_token_transfers, raw_transactions
from eth_assets_tests.fixtures import BOB

RAW = [raw_transactions, raw_token_transfers]


def _run(assets: list, resources: dict[str, object], first: str, last: str, **kwargs):
    return materialize(
        assets,
        resources=resources,
        instance=DagsterInstance.ephemeral(),
        tags={
            "dagster/asset_partition_range_start": first,
            "dagster/asset_partition_range_end": last,
        },
        **kwargs,
    )


def _metadata(result, node: str) -> dict[str, object]:
    event = result.asset_materializations_for_node(node)[0]
    return {k: v.value for k, v in event.metadata.items()}


def _check(result):
    [evaluation] = [e for e in result.get_asset_check_evaluations() if e.check_name == STATE_CHECK]
    return evaluation


def test_the_partitions_days_are_built_and_the_check_passes(resources: dict[str, object]) -> None:
    result = _run([*RAW, feature_state], resources, "2020-01-01", "2020-01-03")
    assert result.success
    root = resources["lake"].root_path()
    held = sorted(lake_days(root))
    assert held and _metadata(result, "feature_state")["days_built"] == len(held)
    assert sorted(read_manifests(state_folder(root))) == held
    assert _check(result).passed


def test_a_rewritten_lake_day_is_repaired_by_the_next_run(resources: dict[str, object]) -> None:
    _run([*RAW, feature_state], resources, "2020-01-01", "2020-01-03")
    _run(RAW, resources, "2020-01-02", "2020-01-02")  # the day's file replaced
    root = resources["lake"].root_path()
    assert compare_with_lake(state_folder(root), root).changed == [date(2020, 1, 2)]
    result = _run([feature_state], resources, "2020-01-03", "2020-01-03")
    assert result.success and _check(result).passed
    assert _metadata(result, "feature_state")["days_repaired"] == "2020-01-02"
    assert compare_with_lake(state_folder(root), root).current


def test_the_check_fails_naming_a_day_the_state_disagrees_on(
    resources: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the repair taken away, the check still compares the state with the lake."""
    _run([*RAW, feature_state], resources, "2020-01-01", "2020-01-03")
    _run(RAW, resources, "2020-01-02", "2020-01-02")

    def no_repair(*args: object, **kwargs: object) -> StateRefresh:
        root = resources["lake"].root_path()
        diff = compare_with_lake(state_folder(root), root)
        return StateRefresh([], [], [], [], {}, 0.0, diff, diff)

    monkeypatch.setattr(state_assets, "refresh_state", no_repair)
    result = _run([feature_state], resources, "2020-01-03", "2020-01-03", raise_on_error=False)
    check = _check(result)
    assert not check.passed
    assert "2020-01-02" in (check.description or "")
    assert "rewritten since their state was built" in (check.description or "")


def _labels_and_universe(folder: Path) -> dict[str, dict[str, object]]:
    """Run config: BOB on a label file, and a universe of every active address."""
    darklist = folder / "darklist.json"
    darklist.write_text(json.dumps([{"address": BOB, "comment": "Phishing"}]))
    return {
        "ops": {
            "illicit_labels": {"config": {"files": [str(darklist)]}},
            "address_universe": {"config": {"sample_size": 10, "min_transactions": 1}},
        }
    }


def test_address_features_repairs_the_state_it_reads(
    resources: dict[str, object], tmp_path: Path
) -> None:
    """Run without feature_state, address_features builds the state itself (a backfill), and
    after a lake day is rewritten it rebuilds exactly that day."""
    assets = [*RAW, illicit_labels, address_universe, address_features]
    config = _labels_and_universe(tmp_path)
    first = _run(assets, resources, "2020-01-01", "2020-01-03", run_config=config)
    assert first.success
    root = resources["lake"].root_path()
    built = _metadata(first, "address_features")["feature_state_days_rebuilt"]
    assert built == str(len(lake_days(root)))
    _run(RAW, resources, "2020-01-02", "2020-01-02")
    again = materialize(
        [address_features],
        resources=resources,
        instance=DagsterInstance.ephemeral(),
        run_config={"ops": {"address_features": {"config": {"as_of": "2020-01-04"}}}},
    )
    assert again.success
    assert _metadata(again, "address_features")["feature_state_days_rebuilt"] == "1"
    assert compare_with_lake(state_folder(root), root).current


def test_a_later_cutoff_recomputes_only_the_changed_addresses(
    resources: dict[str, object], tmp_path: Path
) -> None:
    """address_features as of 2020-01-03, then as of 2020-01-05: the second run recomputes the
    addresses that changed and keeps the other rows, giving the tables a run from scratch gives;
    a lake day rewritten before the first cutoff makes the next run recompute everything."""
    config = _labels_and_universe(tmp_path)
    config["ops"]["address_features"] = {"config": {"as_of": "2020-01-03"}}
    assets = [*RAW, illicit_labels, address_universe, address_features]
    assert _run(assets, resources, "2020-01-01", "2020-01-04", run_config=config).success

    def features_as_of(as_of: str) -> dict[str, object]:
        run = materialize(
            [address_features],
            resources=resources,
            instance=DagsterInstance.ephemeral(),
            run_config={"ops": {"address_features": {"config": {"as_of": as_of}}}},
        )
        assert run.success
        return _metadata(run, "address_features")

    def tables() -> dict[str, list[tuple]]:
        with resources["warehouse"].connect(read_only=True) as con:
            return {
                t: con.execute(f"SELECT * FROM {t} ORDER BY address").fetchall()
                for t in ("address_features", "behaviour_features", "address_activity")
            }

    second = features_as_of("2020-01-05")
    assert second["recomputed"] == "changed since 2020-01-03"
    universe = len(tables()["address_features"])
    assert 0 < int(second["addresses_recomputed"]) <= universe
    kept = tables()
    with resources["warehouse"].connect() as con:
        con.execute("DROP TABLE feature_state_read")
    scratch = features_as_of("2020-01-05")
    assert scratch["recomputed"] == "every address: no previous tables"
    assert tables() == kept
    _run(RAW, resources, "2020-01-02", "2020-01-02")  # the day's file replaced
    after = features_as_of("2020-01-05")
    assert after["recomputed"].startswith("every address: a state day before the previous")
