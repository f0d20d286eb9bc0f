"""Compare per-address features of the simulated chain with those of the real sample.

For each class (normal / illicit) and numeric feature: median and 90th percentile on both, and
the two-sample Kolmogorov-Smirnov statistic; then the median KS per class, and the cross-validated
AUC of a gradient-boosting classifier on each side (a simulation that is too easy to classify
would teach nothing). Real: ../shared/data/raw_txns (universe: accounts.csv in_subset = true,
labels: farrugia_flag). Simulated: the default SimConfig (labels: its darklist; --truth for the
true flags).

    python scripts/calibrate_simulation.py [--seed 42] [--n-accounts 3000] [--days 180] [--truth]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
from scipy.stats import ks_2samp
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import StratifiedKFold, cross_val_score
from threadpoolctl import threadpool_limits

from eth_assets.chain.sim import SimConfig, accounts_table, darklist_entries, generate_day
from eth_assets.chain.sim.day import TOKEN_TRANSFERS_SCHEMA, TRANSACTIONS_SCHEMA
from eth_assets.common.chain_time import start_of_day
from eth_assets.common.duckdb_utils import connect, sql_literal
from eth_assets.features.farrugia import register_sample_views
from eth_assets.features.feature_tables import NUMERIC_FEATURE_COLUMNS, create_address_features

SHARED_ENV = "ETH_ASSETS_SHARED_DATA"
CLASSES = {0: "normal", 1: "illicit"}


def shared_data_dir() -> Path:
    """$ETH_ASSETS_SHARED_DATA or the shared folder beside the checkout."""
    default = Path(__file__).resolve().parents[2] / "shared" / "data"
    return Path(os.environ.get(SHARED_ENV) or default)


def _features(con: duckdb.DuckDBPyConnection, as_of: datetime) -> dict[str, np.ndarray]:
    """Features of every universe address joined with `labels(address, label)`, as arrays."""
    create_address_features(con, as_of)
    cols = ", ".join(f'CAST(f."{c}" AS DOUBLE) AS "{c}"' for c in NUMERIC_FEATURE_COLUMNS)
    table = con.sql(
        f"SELECT l.label, {cols} FROM address_features f JOIN labels l USING (address)"
    ).to_arrow_table()
    return {name: table[name].to_numpy() for name in table.column_names}


def real_features(raw_dir: Path) -> dict[str, np.ndarray]:
    """Features of the real sample as of just after its last transaction, labelled by Farrugia."""
    con = connect()
    register_sample_views(con, raw_dir)
    accounts = sql_literal(str(raw_dir / "accounts.csv"))
    con.execute(
        "CREATE TABLE labels AS SELECT DISTINCT lower(address) AS address, "
        "CAST(farrugia_flag AS INTEGER) AS label "
        f"FROM read_csv({accounts}, header = true, all_varchar = true) "
        "WHERE lower(in_subset) = 'true' AND farrugia_flag IN ('0', '1')"
    )
    last = con.execute("SELECT max(block_timestamp) FROM transactions").fetchall()[0][0]
    return _features(con, last + timedelta(seconds=1))


def _day_reader(config: SimConfig, table: str) -> pa.RecordBatchReader:
    schema = TRANSACTIONS_SCHEMA if table == "transactions" else TOKEN_TRANSFERS_SCHEMA
    batches = (
        batch
        for day in range(config.days)
        for batch in generate_day(config, day)[table].to_batches()
    )
    return pa.RecordBatchReader.from_batches(schema, batches)


def simulated_features(config: SimConfig, truth: bool) -> dict[str, np.ndarray]:
    """Features of every simulated account as of the end of the span, labelled by the darklist
    (or the truth)."""
    con = connect()
    for table in ("transactions", "token_transfers"):
        reader = _day_reader(config, table)
        con.register(f"{table}_reader", reader)
        con.execute(f"CREATE TABLE {table} AS SELECT * FROM {table}_reader")
        con.unregister(f"{table}_reader")
    accounts = accounts_table(config)
    listed = {e["address"].lower() for e in darklist_entries(config)}
    label = (
        accounts["is_illicit"].to_numpy(zero_copy_only=False)
        if truth
        else np.array([a in listed for a in accounts["address"].to_pylist()])
    )
    con.register(
        "labels_frame", pa.table({"address": accounts["address"], "label": label.astype(np.int32)})
    )
    con.execute("CREATE TABLE labels AS SELECT * FROM labels_frame")
    con.execute("CREATE TABLE universe AS SELECT address FROM labels")
    return _features(con, start_of_day(config.end_date + timedelta(days=1)))


def compare(real: dict[str, np.ndarray], sim: dict[str, np.ndarray]) -> dict[str, list[float]]:
    """Print per class and feature: medians, 90th percentiles and KS; return the KS per class."""
    ks_by_class: dict[str, list[float]] = {}
    for label, name in CLASSES.items():
        r_rows, s_rows = real["label"] == label, sim["label"] == label
        print(f"\n== {name}: real n={r_rows.sum()}, simulated n={s_rows.sum()}")
        print(f"{'feature':40s} {'real p50':>11s} {'sim p50':>11s} {'real p90':>11s} "
              f"{'sim p90':>11s} {'KS':>6s}")  # fmt: skip
        ks_by_class[name] = []
        for feature in NUMERIC_FEATURE_COLUMNS:
            r, s = real[feature][r_rows], sim[feature][s_rows]
            ks = float(ks_2samp(r, s).statistic)
            ks_by_class[name].append(ks)
            print(f"{feature:40s} {np.median(r):11.4g} {np.median(s):11.4g} "
                  f"{np.quantile(r, 0.9):11.4g} {np.quantile(s, 0.9):11.4g} {ks:6.3f}")  # fmt: skip
    return ks_by_class


def cv_auc(data: dict[str, np.ndarray], seed: int = 0) -> float:
    """Mean 5-fold cross-validated ROC AUC of a gradient-boosting classifier on the features."""
    x = np.column_stack([np.nan_to_num(data[f]) for f in NUMERIC_FEATURE_COLUMNS])
    folds = StratifiedKFold(5, shuffle=True, random_state=seed)
    model = HistGradientBoostingClassifier(random_state=seed)
    # OpenMP sees more cores than the container grants: one thread is ~20x faster here.
    with threadpool_limits(limits=1):
        scores = cross_val_score(model, x, data["label"], cv=folds, scoring="roc_auc")
    return float(scores.mean())


def main() -> None:
    """Run the comparison and print it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    defaults = SimConfig()
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--n-accounts", type=int, default=defaults.n_accounts)
    parser.add_argument("--days", type=int, default=defaults.days)
    parser.add_argument("--truth", action="store_true", help="label simulated accounts by truth")
    args = parser.parse_args()
    config = SimConfig(seed=args.seed, n_accounts=args.n_accounts, days=args.days)
    started = time.perf_counter()
    real = real_features(shared_data_dir() / "raw_txns")
    sim = simulated_features(config, args.truth)
    ks = compare(real, sim)
    print()
    for name, values in ks.items():
        print(f"median KS {name}: {statistics.median(values):.3f}")
    print(f"AUC real (farrugia_flag): {cv_auc(real):.3f}")
    print(f"AUC simulated ({'truth' if args.truth else 'darklist'}): {cv_auc(sim):.3f}")
    if not args.truth:
        truth = simulated_features(config, truth=True)
        print(f"AUC simulated (truth): {cv_auc(truth):.3f}")
    print(f"({time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    main()
