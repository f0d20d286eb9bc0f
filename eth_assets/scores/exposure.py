"""Counterparties, exposure to listed and flagged addresses, activity over time and token holdings
per address: what compliance tools lead with, computed exactly from the raw tables.

Plain functions, no Dagster. The SQL files (eth_assets/scores/sql/address_flows.sql and the queries
over it) run on
a DuckDB connection with `transactions` and `token_transfers` defined (the lake views, the same
cut-off and label-broadcast tokens left out as the features); the pipeline stores the tables in
the warehouse (`exposure_tables_from_lake`), `address_scores` adds the model's flags and
publishes them (`final_exposure`, `top_counterparties`), and the address page computes the same
for an address the snapshot lacks (`exposure_of_addresses`). Definitions: docs/exposure.md.
Exposure is never a model feature: nothing here is read by the feature or model assets.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import duckdb
import polars as pl

from eth_assets.common.chain_time import as_utc
from eth_assets.common.duckdb_utils import transaction
from eth_assets.common.sql_files import load_sql
from eth_assets.features.feature_tables import RawRelations, register_lake_views
from eth_assets.features.universe import UNIVERSE_TABLE

COUNTERPARTIES_TABLE = "address_counterparties"
MONTHLY_TABLE = "address_monthly_activity"
HOLDINGS_TABLE = "address_token_holdings"
# Per address of the universe (and, on a store of whole histories, of its counterparties): what
# it received and sent, and the parts exchanged with listed addresses.
LISTED_TABLE = "address_exposure_listed"
ENTITY_TABLE = "entity_labels"
EXPOSURE_PROVENANCE_TABLE = "address_exposure_provenance"

# What exposure measures: ether by value, token transfers by count (amounts of different
# tokens do not add up).
MEASURES: tuple[str, ...] = (
    "eth_received",
    "eth_sent",
    "token_transfers_received",
    "token_transfers_sent",
)
SHARES: tuple[str, ...] = (
    "listed_share",
    "flagged_share",
    "indirect_listed_share",
    "indirect_flagged_share",
)
# The column of a counterparty row that makes up each measure, and the column of the reverse
# row (the counterparty's own row with the address) that makes up the same flow.
FLOW_OF: dict[str, str] = {
    "eth_received": "eth_in",
    "eth_sent": "eth_out",
    "token_transfers_received": "token_transfers_in",
    "token_transfers_sent": "token_transfers_out",
}
REVERSE_OF: dict[str, str] = {
    "eth_received": "eth_out",
    "eth_sent": "eth_in",
    "token_transfers_received": "token_transfers_out",
    "token_transfers_sent": "token_transfers_in",
}
COUNTERPARTY_COLUMNS: tuple[str, ...] = (
    "eth_in",
    "eth_out",
    "transactions_in",
    "transactions_out",
    "token_transfers_in",
    "token_transfers_out",
)
TOP_COUNTERPARTIES = 10
TOP_HOLDINGS = 20
INDIRECT_NOT_COMPLETE = (
    "not computed: indirect exposure weighs each counterparty by its own exposure, which needs "
    "the counterparty's whole history, and this store holds whole histories only for the "
    "universe's addresses (chosen accounts' histories)"
)
NOTE = (
    "Shares of ether by value (successful transactions) and of token transfers by count: token "
    "amounts of different tokens do not add up. Listed: counterparties on the label lists named "
    "in label_sources (third parties' reports, shown apart from the model). Flagged: "
    "counterparties this snapshot's model flags; only addresses the snapshot scores can be "
    "flagged, so a store of chosen accounts' histories understates it. Indirect (one hop): the "
    "share that came from (went to) counterparties in proportion to their own direct share; "
    "counterparties that are themselves listed (flagged) count as direct only. Self-transfers "
    "are left out. Exposure is never a model feature."
)


def bound_sql(name: str, **inputs: str) -> str:
    """The query of sql/<name>.sql with each named input relation bound to a SELECT (an outer
    CTE), so the same file runs over any universe or table without redefining views."""
    ctes = ", ".join(f"{relation} AS ({select})" for relation, select in inputs.items())
    query = load_sql(name)
    return f"WITH {ctes} SELECT * FROM ({query}) AS bound" if ctes else query


def _addresses_table(con: duckdb.DuckDBPyConnection, name: str, addresses: Collection[str]) -> str:
    """A temporary table `name(address)` holding `addresses`; a SELECT over it."""
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {name} AS "
        "SELECT DISTINCT unnest(CAST(? AS VARCHAR[])) AS address",
        [sorted(addresses)],
    ).fetchall()
    return f"SELECT address FROM {name}"


def compute_exposure_relations(
    con: duckdb.DuckDBPyConnection,
    as_of: datetime,
    universe: str,
    listed: str,
    flagged: str,
    ring: bool,
) -> None:
    """Temporary tables of the addresses of `universe` (a SELECT of addresses) as of `as_of`:
    exposure_flows, exposure_counterparties, exposure_base (totals, listed and flagged parts),
    exposure_monthly and exposure_holding_parts. With `ring` (a store of whole histories) the
    flows, counterparty rows and base also cover every counterparty of the universe: what
    indirect exposure weighs. `listed` and `flagged` are SELECTs of addresses."""
    parameters = {"as_of": as_utc(as_of)}
    con.execute(f"CREATE OR REPLACE TEMP TABLE exposure_universe AS {universe}").fetchall()
    targets = "SELECT address FROM exposure_universe"
    con.execute(
        "CREATE OR REPLACE TEMP TABLE exposure_flows AS "
        + bound_sql("address_flows", universe=targets),
        parameters,
    ).fetchall()
    if ring:
        others = (
            "SELECT DISTINCT counterparty AS address FROM exposure_flows "
            "WHERE counterparty IS NOT NULL "
            "AND counterparty NOT IN (SELECT address FROM exposure_universe)"
        )
        con.execute(
            "INSERT INTO exposure_flows " + bound_sql("address_flows", universe=others),
            parameters,
        ).fetchall()
    con.execute(
        "CREATE OR REPLACE TEMP TABLE exposure_counterparties AS "
        + bound_sql("address_counterparties", flows="SELECT * FROM exposure_flows")
    ).fetchall()
    con.execute(
        "CREATE OR REPLACE TEMP TABLE exposure_base AS "
        + bound_sql(
            "address_exposure_base",
            counterparties="SELECT * FROM exposure_counterparties",
            listed=listed,
            flagged=flagged,
        )
    ).fetchall()
    con.execute(
        "CREATE OR REPLACE TEMP TABLE exposure_monthly AS "
        + bound_sql(
            "address_monthly_activity", flows="SELECT * FROM exposure_flows", universe=targets
        )
    ).fetchall()
    con.execute(
        "CREATE OR REPLACE TEMP TABLE exposure_holding_parts AS "
        + bound_sql("address_token_holdings", universe=targets),
        parameters,
    ).fetchall()


def token_holdings(parts: pl.DataFrame, top: int = TOP_HOLDINGS) -> pl.DataFrame:
    """Per address, its non-zero token balances at the cut-off (received − sent, exact raw
    integer units, added up from the SQL's three 26-digit parts), the `top` with the most
    transfers (then the largest absolute balance): balances of different tokens are not
    comparable, transfer counts are. `balance` is in tokens where the decimals are known
    (`units` "tokens"), else NULL with `units` "raw units"; `balance_raw` is always exact."""
    rows = []
    for row in parts.iter_rows(named=True):
        raw = int(row["p2"]) * 10**52 + int(row["p1"]) * 10**26 + int(row["p0"])
        if raw == 0:
            continue
        decimals = row["decimals"]
        known = decimals is not None and 0 <= decimals <= 255
        rows.append(
            {
                "address": row["address"],
                "token": row["token"],
                "name": row["name"],
                "symbol": row["symbol"],
                "decimals": decimals if known else None,
                "transfers": int(row["transfers_in"]) + int(row["transfers_out"]),
                "balance_raw": str(raw),
                "balance": raw / 10**decimals if known else None,
                "units": "tokens" if known else "raw units",
                "magnitude": abs(raw / 10**decimals) if known else float(abs(raw)),
            }
        )
    schema = {
        "address": pl.Utf8,
        "token": pl.Utf8,
        "name": pl.Utf8,
        "symbol": pl.Utf8,
        "decimals": pl.Int32,
        "transfers": pl.Int64,
        "balance_raw": pl.Utf8,
        "balance": pl.Float64,
        "units": pl.Utf8,
        "magnitude": pl.Float64,
    }
    frame = pl.DataFrame(rows, schema=schema, orient="row")
    return (
        frame.sort(
            ["address", "transfers", "magnitude", "token"], descending=[False, True, True, False]
        )
        .with_columns(rank=pl.int_range(1, pl.len() + 1).over("address"))
        .filter(pl.col("rank") <= top)
        .drop("magnitude")
    )


def with_flagged_parts(
    base: pl.DataFrame, counterparties: pl.DataFrame, flagged: Collection[str]
) -> pl.DataFrame:
    """`base` (totals and listed parts per address) with its flagged parts, from the rows of
    the flagged addresses themselves: what x received from a flagged d is what d sent to x.
    Exact whenever every flagged address is in `counterparties` with its whole history (the
    scores flag only universe addresses, whose histories the store holds)."""
    reverse = (
        counterparties.filter(
            pl.col("address").is_in(list(flagged)) & (pl.col("address") != pl.col("counterparty"))
        )
        .group_by("counterparty")
        .agg(
            **{
                f"{measure}_flagged": pl.col(column).sum().cast(base[measure].dtype)
                for measure, column in REVERSE_OF.items()
            }
        )
        .rename({"counterparty": "address"})
    )
    return (
        base.drop([f"{m}_flagged" for m in MEASURES], strict=False)
        .join(reverse, on="address", how="left")
        .with_columns(pl.col(f"{m}_flagged").fill_null(0) for m in MEASURES)
    )


def _share(part: pl.Expr, total: pl.Expr) -> pl.Expr:
    """part / total as a float, NULL when the total is 0 (nothing to take a share of)."""
    return pl.when(total > 0).then(part.cast(pl.Float64) / total.cast(pl.Float64))


def final_exposure(
    addresses: Sequence[str],
    counterparties: pl.DataFrame,
    base: pl.DataFrame,
    listed: Collection[str],
    flagged: Collection[str],
    indirect: bool,
    lists_read: bool = True,
) -> pl.DataFrame:
    """One row per address of `addresses`: for each measure its total and its direct and
    one-hop indirect shares with listed and flagged counterparties (`{measure}_total`,
    `{measure}_{share}`; docs/exposure.md).

    `counterparties`: the counterparty rows of `addresses`; `base`: totals with listed and
    flagged parts (address_exposure_base.sql) of `addresses` and, when `indirect`, of every
    counterparty of them. Indirect: the sum over counterparties c (not the address, not listed
    resp. flagged) of the flow with c times c's own direct share, over the address's total;
    NULL when not `indirect`. Without any label list read (`lists_read` false) the listed
    shares are NULL, not 0."""
    targets = pl.DataFrame({"address": list(dict.fromkeys(addresses))}, schema={"address": pl.Utf8})
    parts = [c for m in MEASURES for c in (m, f"{m}_listed", f"{m}_flagged")]
    base = base.select("address", *parts)
    own = targets.join(base, on="address", how="left").with_columns(
        pl.col(c).fill_null(0) for c in parts
    )
    columns: list[pl.Expr] = []
    for measure in MEASURES:
        total = pl.col(measure)
        columns += [
            total.alias(f"{measure}_total"),
            (_share(pl.col(f"{measure}_listed"), total) if lists_read else pl.lit(None))
            .cast(pl.Float64)
            .alias(f"{measure}_listed_share"),
            _share(pl.col(f"{measure}_flagged"), total).alias(f"{measure}_flagged_share"),
        ]
    frame = own.select("address", *columns)
    if not indirect:
        return frame.with_columns(
            pl.lit(None, pl.Float64).alias(f"{m}_indirect_{kind}_share")
            for m in MEASURES
            for kind in ("listed", "flagged")
        ).select(exposure_columns())
    rows = counterparties.filter(
        pl.col("address").is_in(targets["address"].to_list())
        & (pl.col("address") != pl.col("counterparty"))
    )
    shares = base.select(
        pl.col("address").alias("counterparty"),
        *[
            _share(pl.col(f"{m}_{kind}"), pl.col(m)).fill_null(0.0).alias(f"{m}_{kind}_of_c")
            for m in MEASURES
            for kind in ("listed", "flagged")
        ],
    )
    weighted = rows.join(shares, on="counterparty", how="left").with_columns(
        is_listed=pl.col("counterparty").is_in(list(listed)),
        is_flagged=pl.col("counterparty").is_in(list(flagged)),
    )
    sums = weighted.group_by("address").agg(
        pl.when(~pl.col(f"is_{kind}"))
        .then(pl.col(FLOW_OF[m]).cast(pl.Float64) * pl.col(f"{m}_{kind}_of_c").fill_null(0.0))
        .otherwise(0.0)
        .sum()
        .alias(f"{m}_indirect_{kind}")
        for m in MEASURES
        for kind in ("listed", "flagged")
    )
    frame = frame.join(sums, on="address", how="left").with_columns(
        (
            _share(pl.col(f"{m}_indirect_{kind}").fill_null(0.0), pl.col(f"{m}_total"))
            if lists_read or kind == "flagged"
            else pl.lit(None, pl.Float64)
        ).alias(f"{m}_indirect_{kind}_share")
        for m in MEASURES
        for kind in ("listed", "flagged")
    )
    return frame.select(exposure_columns())


def exposure_columns() -> list[str]:
    """The columns of the exposure table, in order."""
    return ["address"] + [f"{m}_{k}" for m in MEASURES for k in ("total", *SHARES)]


def top_counterparties(counterparties: pl.DataFrame, top: int = TOP_COUNTERPARTIES) -> pl.DataFrame:
    """Per address, its `top` counterparties by value (ether in + out, counterparties that moved
    ether only) and its `top` by count (transactions and token transfers, both directions), one
    row per counterparty in either list with its rank in each (NULL when not in it); the
    address itself (self-transfers) is left out."""
    rows = counterparties.filter(pl.col("address") != pl.col("counterparty")).with_columns(
        value=pl.col("eth_in") + pl.col("eth_out"),
        count=pl.col("transactions_in")
        + pl.col("transactions_out")
        + pl.col("token_transfers_in")
        + pl.col("token_transfers_out"),
    )
    by_value = (
        rows.filter(pl.col("value") > 0)
        .sort(["address", "value", "counterparty"], descending=[False, True, False])
        .with_columns(rank_by_value=pl.int_range(1, pl.len() + 1, dtype=pl.Int32).over("address"))
        .filter(pl.col("rank_by_value") <= top)
        .select("address", "counterparty", "rank_by_value")
    )
    by_count = (
        rows.sort(["address", "count", "counterparty"], descending=[False, True, False])
        .with_columns(rank_by_count=pl.int_range(1, pl.len() + 1, dtype=pl.Int32).over("address"))
        .filter(pl.col("rank_by_count") <= top)
        .select("address", "counterparty", "rank_by_count")
    )
    kept = by_value.join(by_count, on=["address", "counterparty"], how="full", coalesce=True)
    return (
        rows.join(kept, on=["address", "counterparty"], how="inner")
        .select("address", "counterparty", *COUNTERPARTY_COLUMNS, "rank_by_value", "rank_by_count")
        .sort("address", "counterparty")
    )


def iso_dates(text: pl.Expr) -> pl.Expr:
    """Label-list dates as ISO text (YYYY-MM-DD): ISO dates or timestamps, and the M/D/YY and
    M/D/YYYY of some lists; NULL when empty or in no such form."""
    trimmed = text.str.strip_chars()
    parsed = pl.coalesce(
        pl.when(trimmed.str.contains(r"^\d{4}-\d{2}-\d{2}")).then(
            trimmed.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)
        ),
        pl.when(trimmed.str.contains(r"^\d{1,2}/\d{1,2}/\d{4}$")).then(
            trimmed.str.to_date("%m/%d/%Y", strict=False)
        ),
        pl.when(trimmed.str.contains(r"^\d{1,2}/\d{1,2}/\d{2}$")).then(
            trimmed.str.to_date("%m/%d/%y", strict=False)
        ),
    )
    return parsed.dt.to_string("%Y-%m-%d")


LABEL_HIT = pl.Struct({"source": pl.Utf8, "category": pl.Utf8, "name": pl.Utf8, "date": pl.Utf8})


def label_hits_frame(labels: pl.DataFrame) -> pl.DataFrame:
    """Per listed address, its label-list entries as objects {source, category, name, date}
    (date ISO text or NULL), sorted, from the rows of the `illicit_labels` table."""
    if labels.height == 0:
        return pl.DataFrame(schema={"address": pl.Utf8, "label_hits": pl.List(LABEL_HIT)})
    entries = labels.select(
        "address",
        pl.col("source").cast(pl.Utf8),
        pl.col("category").cast(pl.Utf8),
        pl.col("name").cast(pl.Utf8),
        iso_dates(pl.col("date").cast(pl.Utf8)).alias("date"),
    ).unique()
    return (
        entries.sort(["address", "source", "category", "name", "date"], nulls_last=True)
        .group_by("address", maintain_order=True)
        .agg(label_hits=pl.struct("source", "category", "name", "date"))
        .sort("address")
    )


def labels_fingerprint(labels: pl.DataFrame) -> str:
    """A digest of the label set's (address, source) pairs: tells whether exposure was computed
    from the label lists the scores use."""
    pairs = labels.select("address", "source").unique().sort("address", "source", nulls_last=True)
    digest = hashlib.sha256()
    for address, source in pairs.iter_rows():
        digest.update(f"{address}\t{source}\n".encode())
    return digest.hexdigest()[:16]


def label_sources(labels: pl.DataFrame) -> list[str]:
    """The label lists (sources) of the `illicit_labels` rows, sorted."""
    return sorted({str(s) for s in labels["source"].drop_nulls().to_list()})


def training_label_overlap(labels: pl.DataFrame, training: pl.DataFrame | None) -> pl.DataFrame:
    """Per label list: its addresses, and how many of them are illicit examples the model was
    trained on (training_set: in_training and label 1). A list with any is a list the model's
    training labels came from, so its exposure and the model's flags are not independent."""
    illicit = (
        training.filter(pl.col("in_training") & (pl.col("label") == 1)).select("address")
        if training is not None
        else pl.DataFrame(schema={"address": pl.Utf8})
    )
    listed = labels.select("address", "source").unique()
    return (
        listed.join(illicit.with_columns(trained=pl.lit(True)), on="address", how="left")
        .group_by("source")
        .agg(
            listed_addresses=pl.len(),
            training_illicit_on_list=pl.col("trained").fill_null(False).sum(),
        )
        .sort("source")
    )


def exposure_declaration(
    sources: Sequence[str], overlap: pl.DataFrame, indirect_note: str, training_known: bool
) -> dict[str, object]:
    """The `exposure` block of the snapshot manifest: the label lists exposure was computed
    from, those the model's training labels also came from, and how to read the figures."""
    also = sorted(overlap.filter(pl.col("training_illicit_on_list") > 0)["source"].to_list())
    note = NOTE
    if also:
        note += (
            f" The list(s) {', '.join(also)} also gave the model's training labels: listed and "
            "flagged exposure are not independent evidence."
        )
    if not training_known:
        note += " The model's training labels are unknown here (no training_set table)."
    if not sources:
        note += " No label list was read: listed shares are unknown (null)."
    return {
        "label_sources": list(sources),
        "sources_also_training_labels": also,
        "note": note,
        "indirect_note": indirect_note,
    }


def exposure_declaration_problem(
    manifest: Mapping[str, object],
    sources: Sequence[str],
    overlap: pl.DataFrame,
    training_known: bool,
    labels_changed: bool = False,
) -> str | None:
    """Why a published manifest does not state what its exposure was computed from (None when
    it does): the label lists used must be listed, and every one of them that also gave the
    model's training labels must be declared so."""
    declared = manifest.get("exposure")
    if not isinstance(declared, dict):
        return "the snapshot manifest has no `exposure` block stating the label lists used"
    stated = declared.get("label_sources")
    if not isinstance(stated, list) or sorted(stated) != sorted(sources):
        return (
            f"the manifest states the label lists {stated!r}, but exposure was computed from "
            f"{sorted(sources)}"
        )
    if labels_changed:
        return (
            "the label lists changed after address_exposure computed the listed exposure: "
            "materialize address_exposure, then address_scores"
        )
    if not training_known:
        return "no training_set table: cannot tell whether the label lists also trained the model"
    used = set(sources)
    overlapping = set(overlap.filter(pl.col("training_illicit_on_list") > 0)["source"].to_list())
    declared_also = set(declared.get("sources_also_training_labels") or [])
    undeclared = sorted((overlapping & used) - declared_also)
    if undeclared:
        counts = dict(overlap.select("source", "training_illicit_on_list").iter_rows())
        shown = ", ".join(f"{s} ({counts[s]} training illicit addresses)" for s in undeclared)
        return (
            f"exposure uses the label list(s) {shown} that the model's training labels also came "
            "from, and the manifest does not declare it in sources_also_training_labels"
        )
    return None


@dataclass(frozen=True)
class ExposureTables:
    """What exposure_tables_from_lake wrote: rows per table and whether indirect is computed."""

    counterparties: int
    monthly: int
    holdings: int
    listed_rows: int
    ring_addresses: int
    indirect_note: str


def _store(con: duckdb.DuckDBPyConnection, table: str, select: str) -> int:
    con.execute(f"CREATE OR REPLACE TABLE {table} AS {select}").fetchall()
    return int(con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0])


def exposure_tables_from_lake(
    con: duckdb.DuckDBPyConnection,
    lake: RawRelations,
    as_of: datetime,
    excluded_tokens: Sequence[str],
    labels: pl.DataFrame,
    complete_histories: bool,
    entities: Mapping[str, list[str]],
    provenance: Mapping[str, object],
) -> ExposureTables:
    """The stored universe's counterparty, monthly-activity, token-holding and listed-exposure
    tables from the lake (and, on a store of whole histories, the listed exposure of every
    counterparty: what indirect exposure weighs), with the entity labels and `provenance`, in
    one transaction."""
    register_lake_views(con, lake, excluded_tokens)
    listed = _addresses_table(con, "exposure_listed", set(labels["address"].to_list()))
    compute_exposure_relations(
        con,
        as_of,
        f"SELECT DISTINCT address FROM {UNIVERSE_TABLE}",
        listed,
        "SELECT CAST(NULL AS VARCHAR) AS address WHERE false",
        ring=complete_histories,
    )
    parts = con.sql("SELECT * FROM exposure_holding_parts").pl()
    holdings = token_holdings(parts)
    entity_frame = pl.DataFrame(
        {"address": list(entities), "kinds": [list(k) for k in entities.values()]},
        schema={"address": pl.Utf8, "kinds": pl.List(pl.Utf8)},
    )
    note = "" if complete_histories else INDIRECT_NOT_COMPLETE
    flagged_columns = ", ".join(f"{m}_flagged" for m in MEASURES)
    with transaction(con):
        counterparties = _store(
            con,
            COUNTERPARTIES_TABLE,
            "SELECT * FROM exposure_counterparties WHERE address IN "
            "(SELECT address FROM exposure_universe) ORDER BY address, counterparty",
        )
        listed_rows = _store(
            con,
            LISTED_TABLE,
            f"SELECT * EXCLUDE ({flagged_columns}), "
            "address IN (SELECT address FROM exposure_universe) AS in_universe "
            "FROM exposure_base ORDER BY address",
        )
        monthly = _store(con, MONTHLY_TABLE, "SELECT * FROM exposure_monthly")
        con.register("holdings_frame", holdings.to_arrow())
        con.register("entity_frame", entity_frame.to_arrow())
        try:
            stored = _store(con, HOLDINGS_TABLE, "SELECT * FROM holdings_frame")
            _store(con, ENTITY_TABLE, "SELECT * FROM entity_frame ORDER BY address")
        finally:
            con.unregister("holdings_frame")
            con.unregister("entity_frame")
        ring = listed_rows - int(
            con.execute(f"SELECT count(*) FROM {LISTED_TABLE} WHERE in_universe").fetchall()[0][0]
        )
        record = {
            **provenance,
            "as_of": as_utc(as_of).isoformat(),
            "complete_histories": complete_histories,
            "indirect_note": note,
            "label_sources": label_sources(labels),
            "labels_fingerprint": labels_fingerprint(labels),
            "excluded_tokens": list(excluded_tokens),
        }
        con.execute(
            f"CREATE OR REPLACE TABLE {EXPOSURE_PROVENANCE_TABLE} (key VARCHAR, value VARCHAR)"
        ).fetchall()
        con.executemany(
            f"INSERT INTO {EXPOSURE_PROVENANCE_TABLE} VALUES (?, ?)",
            [(k, v if isinstance(v, str) else json.dumps(v)) for k, v in record.items()],
        )
    return ExposureTables(counterparties, monthly, stored, listed_rows, ring, note)


@dataclass(frozen=True)
class AddressExposure:
    """The exposure (with first_seen, last_seen), top counterparties, monthly activity and
    token holdings of some addresses, shaped as the published attachments are."""

    exposure: pl.DataFrame
    counterparties: pl.DataFrame
    monthly: pl.DataFrame
    holdings: pl.DataFrame


def exposure_of_addresses(
    con: duckdb.DuckDBPyConnection,
    lake: RawRelations,
    addresses: Sequence[str],
    as_of: datetime,
    excluded_tokens: Sequence[str],
    listed: Collection[str],
    flagged: Collection[str],
    lists_read: bool = True,
) -> AddressExposure:
    """The same tables for `addresses` (lower-case) alone, from the lake of a store of whole
    histories, with the given listed and flagged sets (the snapshot's): what the address page
    computes for an address the snapshot lacks. Indirect exposure is computed (the caller
    allows this only where the store holds whole histories)."""
    register_lake_views(con, lake, excluded_tokens)
    universe = _addresses_table(con, "exposure_targets", addresses)
    compute_exposure_relations(
        con,
        as_of,
        universe,
        _addresses_table(con, "exposure_listed", listed),
        _addresses_table(con, "exposure_flagged", flagged),
        ring=True,
    )
    counterparties = con.sql(
        "SELECT * FROM exposure_counterparties WHERE address IN (SELECT address FROM "
        "exposure_universe) ORDER BY address, counterparty"
    ).pl()
    base = con.sql("SELECT * FROM exposure_base").pl()
    exposure = final_exposure(
        addresses, counterparties, base, listed, flagged, indirect=True, lists_read=lists_read
    )
    activity = con.sql(
        bound_sql("address_activity", universe=universe), params={"as_of": as_utc(as_of)}
    ).pl()
    return AddressExposure(
        exposure=exposure.join(activity, on="address", how="left"),
        counterparties=top_counterparties(counterparties),
        monthly=con.sql("SELECT * FROM exposure_monthly").pl(),
        holdings=token_holdings(con.sql("SELECT * FROM exposure_holding_parts").pl()),
    )


def read_exposure_provenance(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """How address_exposure computed its tables (as_of, store kind, label lists); empty when
    it never ran."""
    found = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [EXPOSURE_PROVENANCE_TABLE]
    ).fetchall()[0][0]
    if not found:
        return {}
    return dict(con.execute(f"SELECT key, value FROM {EXPOSURE_PROVENANCE_TABLE}").fetchall())


@dataclass(frozen=True)
class ExposureInputs:
    """The tables address_exposure stored, as address_scores reads them."""

    counterparties: pl.DataFrame
    listed: pl.DataFrame
    monthly: pl.DataFrame
    holdings: pl.DataFrame
    entities: pl.DataFrame
    activity: pl.DataFrame | None  # address_activity (first_seen, last_seen), when stored
    provenance: Mapping[str, str]


def publishable_exposure(
    inputs: ExposureInputs,
    addresses: Sequence[str],
    listed: Collection[str],
    flagged: Collection[str],
) -> AddressExposure:
    """The snapshot's exposure of `addresses` (the scored ones) with the model's `flagged`
    addresses and the label lists' `listed` ones, its top counterparties, monthly activity and
    holdings: the attachments the address page reads. Indirect only where the store holds
    whole histories (address_exposure's provenance says)."""
    indirect = inputs.provenance.get("complete_histories") == "true"
    base = with_flagged_parts(
        inputs.listed.drop("in_universe", strict=False), inputs.counterparties, flagged
    )
    lists_read = bool(json.loads(inputs.provenance.get("label_sources", "[]")))
    exposure = final_exposure(
        addresses, inputs.counterparties, base, listed, flagged, indirect, lists_read
    )
    activity = (
        inputs.activity.select("address", "first_seen", "last_seen")
        if inputs.activity is not None
        else pl.DataFrame(
            schema={
                "address": pl.Utf8,
                "first_seen": pl.Datetime("us", "UTC"),
                "last_seen": pl.Datetime("us", "UTC"),
            }
        )
    )
    return AddressExposure(
        exposure=exposure.join(activity, on="address", how="left"),
        counterparties=top_counterparties(inputs.counterparties),
        monthly=inputs.monthly,
        holdings=inputs.holdings,
    )
