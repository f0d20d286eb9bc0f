"""BigQuery push-down of the feature SQL: the DuckDB query transpiled by sqlglot, never rewritten.

For users who outgrow one machine, `address_features` can run inside BigQuery over the full chain.
The relations the query reads become BigQuery tables (token transfers joined with `tokens` for
decimals, exactly as the raw extraction does) and the universe an array parameter.

Label-broadcast tokens: the push-down leaves out only the tokens it is given (`excluded_tokens`,
the configured list). The detector of eth_assets/labels/label_broadcast.py is not run here: it
would be
a second whole-history query over `token_transfers`, billed about as much as the features again,
grouping every token's recipients and senders chain-wide against an uploaded label set. Tokens
it finds on a local run belong in ETH_ASSETS_LABEL_BROADCAST_TOKENS for BigQuery runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pyarrow as pa
import sqlglot
from google.cloud import bigquery
from sqlglot import exp

from eth_assets.chain.bigquery_calls import bigquery_sql, window_parameters
from eth_assets.chain.schemas import TOKEN_TRANSFERS, TRANSACTIONS
from eth_assets.common.chain_time import GENESIS
from eth_assets.common.sql_files import load_sql
from eth_assets.features.feature_tables import without_tokens
from eth_assets.resources.bigquery_source import BigQueryChainSource

FEATURES_SQL = "address_features"


def _to_bigquery_dialect(tree: exp.Expression) -> exp.Expression:
    """Rewrite what sqlglot leaves DuckDB-shaped: DATE_DIFF of timestamps → TIMESTAMP_DIFF, and
    EPOCH(ts) → UNIX_SECONDS(ts) (block times are whole seconds, so nothing is lost)."""

    def rewrite(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.DateDiff):
            return exp.TimestampDiff(this=node.this, expression=node.expression, unit=node.unit)
        if isinstance(node, exp.TimeToUnix):
            return exp.UnixSeconds(this=node.this)
        return node

    return tree.transform(rewrite)


def transpile_to_bigquery(sql: str, relations: dict[str, str] | None = None) -> str:
    """DuckDB SQL as BigQuery SQL; each relation named in `relations` is defined by the given
    BigQuery query as a leading CTE, so the rest of the query reads exactly as in DuckDB."""
    tree = sqlglot.parse_one(sql, read="duckdb")
    if relations:
        ctes = [
            exp.CTE(
                this=sqlglot.parse_one(query, read="bigquery"),
                alias=exp.TableAlias(this=exp.to_identifier(name)),
            )
            for name, query in relations.items()
        ]
        with_clause = tree.args.get("with_") or exp.With(expressions=[])
        with_clause.set("expressions", [*ctes, *with_clause.expressions])
        tree.set("with_", with_clause)
    return _to_bigquery_dialect(tree).sql(dialect="bigquery", pretty=True, comments=False)


def round_trip_to_duckdb(sql: str) -> str:
    """DuckDB → BigQuery → DuckDB: what the push-down means, runnable locally for comparison.

    BIGNUMERIC, which the query uses for whole numbers only (DuckDB's DECIMAL(38, 0) on the way
    out), comes back as DECIMAL(38, 0): sqlglot's default DECIMAL(38, 5) would spend 5 of the 38
    digits on a fraction that BigQuery's 76-digit BIGNUMERIC does not take from the integer part.
    """

    return bigquery_to_duckdb(transpile_to_bigquery(sql))


def bigquery_to_duckdb(sql: str) -> str:
    """A pushed-down BigQuery query read back as DuckDB SQL (BIGNUMERIC as DECIMAL(38, 0))."""

    def whole_decimal(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.DataType) and node.this == exp.DataType.Type.BIGDECIMAL:
            return exp.DataType.build("DECIMAL(38, 0)", dialect="duckdb")
        return node

    tree = sqlglot.parse_one(sql, read="bigquery")
    return tree.transform(whole_decimal).sql(dialect="duckdb")


def features_bigquery_sql(
    dataset: str, excluded_tokens: Sequence[str] = (), sql_name: str = FEATURES_SQL
) -> str:
    """The feature query (or another query over the same relations, `sql_name`) for BigQuery,
    with parameters @as_of (TIMESTAMP), @addresses (ARRAY<STRING>) and @start/@end bounding the
    raw scans (genesis … as_of); the transfers of `excluded_tokens` (label-broadcast tokens) are
    left out."""
    relations = {
        TRANSACTIONS.name: bigquery_sql(TRANSACTIONS, dataset),
        TOKEN_TRANSFERS.name: without_tokens(
            bigquery_sql(TOKEN_TRANSFERS, dataset), excluded_tokens
        ),
        "universe": "SELECT address FROM UNNEST(@addresses) AS address",
    }
    return transpile_to_bigquery(load_sql(sql_name), relations)


def features_in_bigquery(
    source: BigQueryChainSource,
    addresses: list[str],
    as_of: datetime,
    excluded_tokens: Sequence[str] = (),
    sql_name: str = FEATURES_SQL,
) -> tuple[pa.Table, dict[str, object]]:
    """Compute the features of `addresses` inside BigQuery (or the query `sql_name` over the same
    relations, e.g. address_activity); one row per address, as Arrow."""
    parameters = [
        bigquery.ScalarQueryParameter("as_of", "TIMESTAMP", as_of),
        bigquery.ArrayQueryParameter("addresses", "STRING", addresses),
        *window_parameters(GENESIS, as_of),
    ]
    what = f"BigQuery {sql_name} push-down over {source.dataset} for {len(addresses)} addresses"
    return source.query_arrow(
        features_bigquery_sql(source.dataset, excluded_tokens, sql_name), parameters, what
    )
