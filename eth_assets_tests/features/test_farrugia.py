"""The real sample's views and the agreement of our features with the published Farrugia et al.
(2020) features (Complete.csv); the agreement tests are skipped without ../shared/data."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from eth_assets.chain.schemas import TOKEN_TRANSFERS, TRANSACTIONS
from eth_assets.common.duckdb_utils import connect
from eth_assets.features.farrugia import agreement_table, register_sample_views
from eth_assets.features.feature_tables import PUBLISHED_NAMES, create_address_features
from eth_assets_tests.fixtures import A, at, write_sample_folder


def test_sample_views_have_the_schema_columns(tmp_path: Path) -> None:
    """The sample views map the Parquet files onto the schema and keep in-subset accounts."""
    write_sample_folder(tmp_path)
    con = connect()
    register_sample_views(con, tmp_path)
    for table in (TRANSACTIONS, TOKEN_TRANSFERS):
        described = con.execute(f"DESCRIBE {table.name}").fetchall()
        types = [
            (row[0], row[1].replace("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ")) for row in described
        ]
        assert types == list(table.columns)
    assert con.execute("SELECT * FROM universe").fetchall() == [(A,)]
    assert con.execute("SELECT token_decimals FROM token_transfers").fetchall() == [(6,)]
    assert create_address_features(con, at(1)) == 1


# Agreement with Complete.csv measured with as_of 2019-04-25 (docs/features.md): each floor is
# the measured share of accounts equal within 1e-6 relative minus half a point, rounded down.
AGREEMENT_FLOORS: dict[str, float] = {
    "avg_min_between_sent_tnx": 0.489,
    "avg_min_between_received_tnx": 0.342,
    "time_diff_between_first_and_last_mins": 0.988,
    "sent_tnx": 0.984,
    "received_tnx": 0.984,
    "number_of_created_contracts": 0.862,
    "unique_received_from_addresses": 0.993,
    "unique_sent_to_addresses": 0.991,
    "min_value_received": 0.992,
    "max_value_received": 0.992,
    "avg_val_received": 0.975,
    "min_val_sent": 0.993,
    "max_val_sent": 0.994,
    "avg_val_sent": 0.956,
    "min_value_sent_to_contract": 0.958,
    "max_val_sent_to_contract": 0.898,
    "avg_value_sent_to_contract": 0.915,
    "total_transactions": 0.978,
    "total_ether_sent": 0.977,
    "total_ether_received": 0.977,
    "total_ether_sent_contracts": 0.895,
    "total_ether_balance": 0.972,
    "total_erc20_tnxs": 0.988,
    "erc20_total_ether_received": 0.811,
    "erc20_total_ether_sent": 0.940,
    "erc20_total_ether_sent_contract": 0.964,
    "erc20_uniq_sent_addr": 0.994,
    "erc20_uniq_rec_addr": 0.994,
    "erc20_uniq_sent_contract_addr": 0.894,
    "erc20_uniq_rec_contract_addr": 0.994,
    "erc20_avg_time_between_sent_tnx": 0.924,
    "erc20_avg_time_between_rec_tnx": 0.735,
    "erc20_avg_time_between_rec_2_tnx": 0.735,
    "erc20_avg_time_between_contract_tnx": 0.977,
    "erc20_min_val_rec": 0.824,
    "erc20_max_val_rec": 0.887,
    "erc20_avg_val_rec": 0.811,
    "erc20_min_val_sent": 0.943,
    "erc20_max_val_sent": 0.965,
    "erc20_avg_val_sent": 0.940,
    "erc20_min_val_sent_contract": 0.968,
    "erc20_max_val_sent_contract": 0.965,
    "erc20_avg_val_sent_contract": 0.965,
    "erc20_uniq_sent_token_name": 0.992,
    "erc20_uniq_rec_token_name": 0.989,
    "erc20_most_sent_token_type": 0.974,
    "erc20_most_rec_token_type": 0.819,
}

REAL_AS_OF = datetime(2019, 4, 25, tzinfo=UTC)


@pytest.fixture(scope="module")
def real_agreement(shared_data: Path):
    """Agreement table of our features with Complete.csv on the real sample."""
    raw = shared_data / "raw_txns"
    published = shared_data / "farrugia2020" / "Complete.csv"
    if not (raw / "transactions.parquet").is_file() or not published.is_file():
        pytest.skip(f"real sample or Complete.csv missing under {shared_data}")
    con = connect()
    register_sample_views(con, raw)
    create_address_features(con, REAL_AS_OF)
    features = con.sql("SELECT * FROM address_features").df()
    return agreement_table(features, published).set_index("feature")


def test_real_sample_counts_match_the_published_ones(real_agreement) -> None:
    """Sent and received counts equal the published ones for at least 98 % of the accounts."""
    assert real_agreement["accounts"].iloc[0] > 4000
    assert real_agreement.loc["sent_tnx", "equal"] >= 0.98
    assert real_agreement.loc["received_tnx", "equal"] >= 0.98


@pytest.mark.parametrize("feature", list(PUBLISHED_NAMES))
def test_real_sample_agreement_floor(real_agreement, feature: str) -> None:
    """Each feature agrees with the published one at least as often as measured."""
    assert real_agreement.loc[feature, "equal"] >= AGREEMENT_FLOORS[feature]
