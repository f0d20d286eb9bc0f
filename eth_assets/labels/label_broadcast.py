"""Label-broadcast tokens found from data (eth_assets/labels/sql/label_broadcast_tokens.sql).

A label-broadcast token is airdropped by one sender, or a handful, onto addresses on the public
scam lists: receiving one is a third party's label, not behaviour. Plain functions, no Dagster:
the detector runs over any DuckDB connection with a `token_transfers` view. The thresholds were
chosen on the real sample (docs/features.md#label-broadcast-tokens gives the evidence). The
BigQuery feature engine does not run the detector and leaves out only the configured tokens
(eth_assets/features/pushdown.py says why).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime

import duckdb
import polars as pl

from eth_assets.common.addresses import normalize_address
from eth_assets.common.chain_time import as_utc
from eth_assets.common.sql_files import load_sql

RAW_PAIRS_SQL_NAME = "label_broadcast_pairs"
STATE_PAIRS_SQL_NAME = "label_broadcast_pairs_from_state"
SQL_NAME = "label_broadcast_tokens"
# The warehouse table of the evidence, written with address_features.
TABLE = "label_broadcast_tokens"

# Thresholds, chosen on the real sample (docs/features.md#label-broadcast-tokens):
# - At least 25 distinct recipients: tokens whose every recipient is on the lists by chance
#   reach at most 8 of them ("Wash ETH" spam); the smallest broadcast found reaches 93.
MIN_RECIPIENTS = 25
# - At least 97 % of them on the lists: the broadcasts reach 99.3-100 %; no other token with 25
#   recipients passes 95.4 % (an 'ERC20' airdrop that also reached 7 normal accounts); the
#   universe is about half listed, so a token that reaches it at that base rate never comes close.
MIN_LABELLED_SHARE = 0.97
# - At least 90 % of its transfers sent by its 10 busiest senders: an airdrop is a batch from one
#   sender, or a handful (NOTSAFU's Transfer events name 9 exchange wallets as spoofed senders);
#   a traded token's transfers come from its many holders.
TOP_SENDERS = 10
MIN_TOP_SENDERS_SHARE = 0.9


@dataclass(frozen=True)
class BroadcastRule:
    """When a token counts as a label broadcast; the defaults are the constants above."""

    min_recipients: int = MIN_RECIPIENTS
    min_labelled_share: float = MIN_LABELLED_SHARE
    top_senders: int = TOP_SENDERS
    min_top_senders_share: float = MIN_TOP_SENDERS_SHARE


def detect_label_broadcast_tokens(
    con: duckdb.DuckDBPyConnection,
    labelled_sql: str,
    as_of: datetime,
    rule: BroadcastRule = BroadcastRule(),
) -> pl.DataFrame:
    """Per token with a transfer in `token_transfers` before `as_of`: its evidence and whether
    `rule` flags it. `labelled_sql` is a SELECT whose `address` column lists the labelled
    addresses (e.g. `SELECT address FROM address_universe WHERE is_labelled_illicit`)."""
    return run_rule(con, labelled_sql, RAW_PAIRS_SQL_NAME, {"as_of": as_utc(as_of)}, rule)


def detect_label_broadcast_tokens_from_state(
    con: duckdb.DuckDBPyConnection, labelled_sql: str, rule: BroadcastRule = BroadcastRule()
) -> pl.DataFrame:
    """`detect_label_broadcast_tokens` from the feature state views `state_tokens` and
    `state_token_balances` (every token, the days before the cutoff) instead of the raw
    transfers: the same evidence and flags."""
    return run_rule(con, labelled_sql, STATE_PAIRS_SQL_NAME, {}, rule)


def run_rule(
    con: duckdb.DuckDBPyConnection,
    labelled_sql: str,
    pairs_sql_name: str,
    parameters: dict[str, object],
    rule: BroadcastRule,
) -> pl.DataFrame:
    """The rule (label_broadcast_tokens.sql) over the token pairs of one source (`pairs_sql_name`,
    the head of its WITH), with `labelled_sql` as the label lists."""
    if "labelled_addresses" in labelled_sql:
        raise ValueError(
            f"labelled_sql {labelled_sql!r} reads `labelled_addresses`, the view this function "
            "defines from it: register the addresses under another name"
        )
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW labelled_addresses AS SELECT address FROM ({labelled_sql})"
    ).fetchall()
    query = f"WITH\n{load_sql(pairs_sql_name)},\n{load_sql(SQL_NAME)}"
    frame = pl.from_arrow(con.sql(query, params=parameters | asdict(rule)).to_arrow_table())
    assert isinstance(frame, pl.DataFrame)
    return frame


def detected_tokens(evidence: pl.DataFrame | None) -> tuple[str, ...]:
    """The flagged tokens of a detection, in its order; none without one."""
    if evidence is None:
        return ()
    return tuple(evidence.filter(pl.col("flagged"))["token_address"].to_list())


def tokens_left_out(configured: Sequence[str], evidence: pl.DataFrame | None) -> tuple[str, ...]:
    """The configured tokens (lower-case, always left out) then the detected ones not among them."""
    listed = tuple(dict.fromkeys(normalize_address(token) for token in configured))
    return listed + tuple(t for t in detected_tokens(evidence) if t not in listed)


def left_out_table(configured: Sequence[str], evidence: pl.DataFrame | None) -> pl.DataFrame:
    """One row per token left out: why (configured, detected or both) and its evidence (empty
    for a configured token without transfers before the cut-off, or when detection did not run)."""
    listed = {normalize_address(token) for token in configured}
    detected = set(detected_tokens(evidence))
    why = {
        token: " and ".join(
            reason
            for reason, found in (("configured", token in listed), ("detected", token in detected))
            if found
        )
        for token in tokens_left_out(configured, evidence)
    }
    order = pl.DataFrame({"token_address": list(why), "left_out": list(why.values())})
    if evidence is None:
        return order
    shown = evidence.select(
        "token_address",
        "token_name",
        "transfers",
        "recipients",
        "labelled_recipients",
        pl.col("labelled_share").round(3),
        "senders",
        pl.col("top_senders_share").round(3),
        pl.col("first_transfer").dt.date(),
        pl.col("last_transfer").dt.date(),
    )
    return order.join(shown, on="token_address", how="left", maintain_order="left")


def store_label_broadcast_tokens(
    con: duckdb.DuckDBPyConnection, evidence: pl.DataFrame | None
) -> None:
    """Replace the warehouse table `label_broadcast_tokens` by `evidence`, or drop it when
    detection did not run (no table describing another run stays beside the features)."""
    if evidence is None:
        con.execute(f"DROP TABLE IF EXISTS {TABLE}").fetchall()
        return
    con.register("detected_label_broadcasts", evidence.to_arrow())
    try:
        con.execute(
            f"CREATE OR REPLACE TABLE {TABLE} AS SELECT * FROM detected_label_broadcasts"
        ).fetchall()
    finally:
        con.unregister("detected_label_broadcasts")
