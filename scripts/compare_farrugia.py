"""Compare our features (as of 2019-04-25, real sample) with Farrugia et al.'s Complete.csv.

Prints, per feature, the share of accounts present in both that agree within 1e-6 relative and
within 1 % (ours rounded to the digits the published column is printed with), and the main
disagreement pattern. Data folder: $ETH_ASSETS_SHARED_DATA or shared/data beside the checkout.

    python scripts/compare_farrugia.py [--markdown] [--as-of 2019-04-25]
"""

from __future__ import annotations

import argparse
import os
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from eth_assets.common.duckdb_utils import connect
from eth_assets.features.farrugia import (
    PUBLISHED_PREFIX,
    agreement_table,
    compare_column,
    pair_with_published,
    published_decimals,
    register_sample_views,
)
from eth_assets.features.feature_tables import (
    CATEGORICAL_COLUMNS,
    PUBLISHED_NAMES,
    create_address_features,
)

AS_OF = datetime(2019, 4, 25, tzinfo=UTC)
DEFAULT_SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def shared_data() -> Path:
    """The real-data folder: $ETH_ASSETS_SHARED_DATA or shared/data beside the repository."""
    return Path(os.environ.get("ETH_ASSETS_SHARED_DATA") or DEFAULT_SHARED_DATA)


def compute_features(raw_dir: Path, as_of: datetime = AS_OF) -> pd.DataFrame:
    """Our features of the real-sample universe as of `as_of`."""
    con = connect()
    register_sample_views(con, raw_dir)
    create_address_features(con, as_of)
    return con.sql("SELECT * FROM address_features").df()


def pattern(ours: pd.Series, published: pd.Series, digits: int) -> str:
    """One line on how the disagreeing accounts differ (direction, zeros, typical ratio)."""
    equal, _ = compare_column(ours, published, digits)
    bad = ~equal
    if not bad.any():
        return "-"
    example = ours.index[bad][0]
    if ours.name in CATEGORICAL_COLUMNS:
        return (
            f"{bad.sum()} differ, e.g. {example}: ours={ours[example]!r} pub={published[example]!r}"
        )
    mine = ours.astype(float).to_numpy()[bad]
    theirs = pd.to_numeric(published.str.strip().replace("", "0")).fillna(0).to_numpy()[bad]
    both = (mine != 0) & (theirs != 0)
    ratio = np.median(mine[both] / theirs[both]) if both.any() else float("nan")
    return (
        f"{bad.sum()} differ: ours>pub {np.mean(mine > theirs):.0%}, ours<pub "
        f"{np.mean(mine < theirs):.0%}, pub=0 {np.mean(theirs == 0):.0%}, ours=0 "
        f"{np.mean(mine == 0):.0%}, median ours/pub {ratio:.3g}; e.g. {example} "
        f"ours={ours[example]:.6g} pub={published[example]!r}"
    )


def main() -> None:
    """Compute, compare, print the agreement table (plain or Markdown) and the patterns."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument(
        "--as-of", type=datetime.fromisoformat, default=AS_OF, help="cutoff (default 2019-04-25)"
    )
    args = parser.parse_args()
    data = shared_data()
    published_csv = data / "farrugia2020" / "Complete.csv"
    features = compute_features(data / "raw_txns", args.as_of)
    table = agreement_table(features, published_csv)
    print(f"as_of {args.as_of:%Y-%m-%d %H:%M}: {table['accounts'].iloc[0]} accounts in both\n")
    if args.markdown:
        print("| feature | published | equal (1e-6 rel.) | within 1 % |\n|---|---|---:|---:|")
        for row in table.itertuples():
            shares = f"{row.equal:.2%} | {row.within_1pct:.2%}"
            print(f"| {row.feature} | {row.published} | {shares} |")
    else:
        print(
            table.to_string(
                index=False, formatters={"equal": "{:.3f}".format, "within_1pct": "{:.3f}".format}
            )
        )
    digits = published_decimals(published_csv)
    both = pair_with_published(features, published_csv)
    print("\nmain disagreement pattern per feature:")
    for ours, theirs in PUBLISHED_NAMES.items():
        print(f"{ours}: {pattern(both[ours], both[PUBLISHED_PREFIX + theirs], digits[theirs])}")


if __name__ == "__main__":
    main()
