"""Feature tables in the DuckDB warehouse: the address universe and per-address features."""

from datetime import datetime
from pathlib import Path
from typing import Literal

import duckdb
import polars as pl
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    BackfillPolicy,
    Config,
    MaterializeResult,
    MetadataValue,
    asset,
)
from pydantic import Field

from eth_assets.common.duckdb_utils import (
    publish_staged,
    remove_database_file,
    staging_catalog,
    transaction,
)
from eth_assets.common.markdown import markdown_table
from eth_assets.features.as_of import default_as_of, parse_as_of
from eth_assets.features.drift import MAJOR_SHIFT
from eth_assets.features.feature_provenance import (
    Provenance,
    UniverseProvenance,
    read_provenance,
    write_provenance,
)
from eth_assets.features.feature_run import (
    FEATURE_TABLES,
    STAGING_CATALOG,
    StagedFeatures,
    drift_against,
    judge_staged,
    major_shifts,
    numeric_features,
    provenance_of_run,
    staging_file,
    universe_parts,
)
from eth_assets.features.feature_tables import (
    register_lake_views,
    store_pushed_features,
)
from eth_assets.features.state_assets import feature_state
from eth_assets.features.state_pushdown import features_from_bigquery_state
from eth_assets.features.state_run import (
    StateRefresh,
    feature_tables_from_state,
    label_broadcasts_in_state,
    refresh_state,
    state_folder,
)
from eth_assets.features.universe import (
    UNIVERSE_TABLE,
    read_address_file,
    require_universe,
    sample_universe,
    store_universe,
    universe_addresses,
)
from eth_assets.labels.label_assets import illicit_labels
from eth_assets.labels.label_broadcast import (
    detected_tokens,
    left_out_table,
    tokens_left_out,
)
from eth_assets.lake.provenance import SourceOfPart, require_one_source
from eth_assets.lake.raw_assets import raw_token_transfers, raw_transactions
from eth_assets.resources.bigquery_source import BigQueryChainSource
from eth_assets.resources.chain_sources import ChainSource
from eth_assets.resources.parquet_lake import ParquetLake
from eth_assets.resources.warehouse import WAREHOUSE_TAG, DuckDBWarehouse
from eth_assets.settings import (
    ADDRESS_FILE_ENV,
    FEATURE_ENGINE_ENV,
    LABEL_BROADCAST_TOKENS_ENV,
    address_file,
    feature_engine,
    label_broadcast_tokens,
    market_gas_prices_file,
)

AS_OF_DESCRIPTION = (
    "The feature stage's cutoff: only transactions with block_timestamp < as_of count, for the "
    "sample and for address_features, which reads it from here (ISO date or timestamp, UTC). "
    "Empty: the end of the latest day of raw_transactions in the lake."
)
FEATURES_AS_OF_DESCRIPTION = (
    "Only transactions with block_timestamp < as_of count (ISO date or timestamp, UTC). Empty: "
    "the cutoff address_universe recorded (configure it there, once), else the end of the "
    "latest day of raw_transactions in the lake. Give it here only to follow the same universe "
    "at another cutoff."
)


def resolve_as_of(lake: ParquetLake, configured: str) -> datetime:
    """The configured cutoff, or the end of the latest day of raw_transactions in the lake."""
    if configured:
        return parse_as_of(configured)
    return default_as_of(lake.last_day("transactions"))


def universe_cutoff(lake: ParquetLake, configured: str, sampled: bool) -> datetime | None:
    """The feature stage's cutoff, recorded with the universe for address_features too: the
    configured one, else the lake's end; None for an address file over a lake without
    transactions yet (a sample over one is refused, naming the fix)."""
    if configured:
        return parse_as_of(configured)
    last_day = lake.last_day("transactions")
    return default_as_of(last_day) if last_day is not None or sampled else None


def feature_cutoff(lake: ParquetLake, warehouse: DuckDBWarehouse, configured: str) -> datetime:
    """address_features' cutoff: its own `as_of` when given, else the one address_universe
    resolved and recorded (so a run configures it once, on the universe), else the lake's end."""
    if configured:
        return parse_as_of(configured)
    with warehouse.connect() as con:
        universe = read_provenance(con, UniverseProvenance)
    if universe is not None and universe.as_of is not None:
        return universe.as_of
    return resolve_as_of(lake, "")


def repair_state(lake: ParquetLake, run_id: str, market_gas: Path | None) -> StateRefresh:
    """Bring the lake's feature state up to date (stale and missing days only)."""
    root = lake.root_path()
    with lake.naming_damaged_files():
        return refresh_state(state_folder(root), root, [], run_id, market_gas)


def state_and_detection(
    lake: ParquetLake,
    engine: str,
    detect: bool,
    as_of: datetime,
    market_gas: Path | None,
    run_id: str,
) -> tuple[StateRefresh | None, pl.DataFrame | None]:
    """For the local engine: the feature state brought up to date with the lake (days without
    state or rewritten since are rebuilt from their own lake files: a backfill on the first
    run, usually nothing after), then the label-broadcast detection over it when asked."""
    if engine != "local":
        return None, None
    repair = repair_state(lake, run_id, market_gas)
    return repair, label_broadcasts_in_lake(lake, as_of, market_gas) if detect else None


def label_broadcasts_in_lake(
    lake: ParquetLake, as_of: datetime, market_gas: Path | None
) -> pl.DataFrame:
    """Label-broadcast tokens found in the token transfers before `as_of` (from the feature
    state), against the lake's label set (eth_assets/labels/label_broadcast.py): the evidence
    per token, with the flag."""
    with lake.naming_damaged_files():
        return label_broadcasts_in_state(
            lake.root_path(), as_of, lake.labelled_addresses(), market_gas
        )


def detection_summary(broadcasts: pl.DataFrame | None, engine: str) -> str:
    """What the label-broadcast detection found, against the base rate, or why it did not run."""
    if broadcasts is None:
        return "off" if engine == "local" else f"not run by the {engine} engine: listed tokens only"
    base = float(broadcasts["base_labelled_share"][0]) if broadcasts.height else 0.0
    return (
        f"{len(detected_tokens(broadcasts))} of {broadcasts.height} tokens flagged; the label "
        f"lists hold {base:.1%} of all token recipients"
    )


class AddressUniverseConfig(Config):
    """An explicit address file, or labelled addresses plus a deterministic sample."""

    address_file: str = Field(
        default="",
        description=(
            f"CSV/Parquet with an `address` column. Empty: ${ADDRESS_FILE_ENV} if set, else the "
            "chain source's own account list if it has one, else labelled addresses with "
            "history plus a sample."
        ),
    )
    flag_column: str = Field("", description="Boolean column of the file; keep rows where true.")
    sample_size: int = Field(2000, description="Active unlabelled addresses sampled.")
    min_transactions: int = Field(5, description="Activity needed to be sampled.")
    seed: str = Field("eth_assets", description="Seed of the deterministic sample.")
    as_of: str = Field("", description=AS_OF_DESCRIPTION)


@asset(
    deps=[raw_transactions, illicit_labels],
    group_name="features",
    kinds={"duckdb"},
    tags=WAREHOUSE_TAG,
    backfill_policy=BackfillPolicy.single_run(),
)
def address_universe(
    context: AssetExecutionContext,
    config: AddressUniverseConfig,
    chain_source: ChainSource,
    lake: ParquetLake,
    warehouse: DuckDBWarehouse,
) -> MaterializeResult:
    """The addresses to profile: those whose whole history is in the store."""
    source = chain_source.describe()
    require_one_source(
        source,
        {
            "illicit_labels": lake.table_source("illicit_labels"),
            "raw_transactions": lake.sources("transactions"),
            "raw_token_transfers": lake.sources("token_transfers"),
        },
    )
    labelled = lake.labelled_addresses().to_frame()
    explicit = config.address_file or address_file()
    listed = (
        (explicit, config.flag_column or None) if explicit else chain_source.default_address_file()
    )
    as_of = universe_cutoff(lake, config.as_of, sampled=not listed)
    with warehouse.connect() as con:
        if listed:
            universe = read_address_file(Path(listed[0]), listed[1])
            origin = f"address file {listed[0]}"
        else:
            register_lake_views(con, lake)
            con.register("labels", labelled.to_arrow())
            with lake.naming_damaged_files():
                universe = sample_universe(
                    con, as_of, config.sample_size, config.min_transactions, config.seed
                )
            origin = f"labelled + sample of {config.sample_size} (as_of {as_of.isoformat()})"
        recorded = UniverseProvenance(source, origin, not listed, as_of, context.run_id)
        with transaction(con):
            rows = store_universe(con, universe, labelled)
            write_provenance(con, recorded)
        by_reason = con.sql(
            f"SELECT inclusion_reason, is_labelled_illicit, count(*) AS addresses "
            f"FROM {UNIVERSE_TABLE} GROUP BY ALL ORDER BY ALL"
        ).pl()
    return MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "origin": origin,
            "composition": MetadataValue.md(markdown_table(by_reason)),
            "warehouse": MetadataValue.path(str(warehouse.file_path())),
        }
    )


class AddressFeaturesConfig(Config):
    """The cutoff of the feature computation and where it runs."""

    as_of: str = Field("", description=FEATURES_AS_OF_DESCRIPTION)
    engine: Literal["", "local", "bigquery"] = Field(
        default="",
        description=(
            "local: DuckDB over the raw lake. bigquery: the same SQL transpiled and run inside "
            "BigQuery over the full chain (needs the bigquery chain source). Empty: "
            f"${FEATURE_ENGINE_ENV}, else local."
        ),
    )
    exclude_label_broadcast_tokens: bool = Field(
        default=True,
        description=(
            "Leave out the transfers of label-broadcast tokens (third parties' scam labels "
            f"airdropped on chain, listed in ${LABEL_BROADCAST_TOKENS_ENV} or detected): they "
            "are labels, not behaviour."
        ),
    )
    detect_label_broadcast_tokens: bool = Field(
        default=True,
        description=(
            "Also leave out the tokens the data shows to be label broadcasts (airdropped by a "
            "handful of senders onto addresses nearly all on the label lists; "
            "docs/features.md#label-broadcast-tokens). The local engine only: the bigquery "
            "engine leaves out the listed tokens alone."
        ),
    )


USABLE_CHECK = "address_features_usable"
DRIFT_CHECK = "address_features_drift"


def require_engine(engine: str, chain_source: ChainSource) -> None:
    """The bigquery engine runs inside BigQuery: refused for any other chain source."""
    if engine == "bigquery" and not isinstance(chain_source, BigQueryChainSource):
        raise ValueError(
            "engine 'bigquery' runs the features inside BigQuery and needs "
            f"ETH_ASSETS_SOURCE=bigquery; the chain source is {chain_source.describe()}"
        )


def compute_features(
    con: duckdb.DuckDBPyConnection,
    chain_source: ChainSource,
    lake: ParquetLake,
    provenance: Provenance,
    broadcasts: pl.DataFrame | None,
    market_gas: Path | None,
    previous_catalog: str | None = None,
) -> tuple[int, dict[str, object]]:
    """Write the feature tables into `con` with the chosen engine (the local engine recomputes
    only the changed addresses when `previous_catalog`'s tables allow it); rows, and what the
    engine reports (BigQuery's bytes, the label-broadcast transfers left out, the addresses
    recomputed)."""
    as_of, excluded = provenance.as_of, provenance.excluded_tokens
    if provenance.engine == "bigquery":
        addresses = universe_addresses(con)
        table, activity, state = features_from_bigquery_state(
            chain_source, addresses, as_of, excluded, lake.root_path()
        )
        reported = {
            "bigquery_bytes_billed": state.bytes_billed,
            "bigquery_jobs": state.jobs,
            "bigquery_state_days_built": len(state.days_built),
            "bigquery_state_days_rebuilt_after_a_re_extract": ", ".join(
                d.isoformat() for d in state.rewritten
            )
            or "none",
        }
        return store_pushed_features(con, table, provenance, activity), reported
    with lake.naming_damaged_files():
        return feature_tables_from_state(
            con, lake.root_path(), provenance, broadcasts, market_gas, previous_catalog
        )


def feature_checks(
    staged: StagedFeatures, labels: int, staging: Path, drift: pl.DataFrame | None
) -> list[AssetCheckResult]:
    """The blocking usability check and the drift check, as Dagster results."""
    problem, worst = staged.usability.problem, major_shifts(drift)
    return [
        AssetCheckResult(
            check_name=USABLE_CHECK,
            passed=problem is None,
            description=problem,
            metadata={
                "addresses": staged.rows,
                "addresses_with_activity": staged.usability.addresses_with_activity,
                "labelled_in_universe": staged.usability.labelled_in_universe,
                "label_set_addresses": labels,
                "stored": problem is None,
                "refused_tables": MetadataValue.path(str(staging)) if problem else "none",
            },
        ),
        AssetCheckResult(
            check_name=DRIFT_CHECK,
            passed=worst.height == 0,
            severity=AssetCheckSeverity.WARN,
            metadata={
                "compared_with": "the previous address_features"
                if drift is not None
                else "nothing (first materialization)",
                "max_psi": float(drift["psi"].max() or 0.0) if drift is not None else 0.0,
                "psi": MetadataValue.md(markdown_table(drift.head(60)))
                if drift is not None
                else MetadataValue.md("no previous table"),
            },
        ),
    ]


def feature_metadata(
    staged: StagedFeatures,
    provenance: Provenance,
    configured: tuple[str, ...],
    broadcasts: pl.DataFrame | None,
    reported: dict[str, object],
    staging: Path,
    warehouse: Path,
) -> dict[str, object]:
    """What the Dagster UI shows of a materialization of address_features."""
    excluded, engine = provenance.excluded_tokens, provenance.engine
    return {
        "dagster/row_count": staged.rows,
        "stored": MetadataValue.text(
            "yes: the warehouse holds these tables"
            if staged.usability.problem is None
            else f"no: {USABLE_CHECK} failed, the previous tables are kept; these are in {staging}"
        ),
        "as_of": provenance.as_of.isoformat(),
        "engine": engine,
        "label_broadcast_tokens_left_out": MetadataValue.text(", ".join(excluded) or "none"),
        "label_broadcast_tokens": MetadataValue.md(
            markdown_table(left_out_table(configured, broadcasts)) if excluded else "none"
        ),
        "label_broadcast_detection": MetadataValue.text(detection_summary(broadcasts, engine)),
        **{k: MetadataValue.text(str(v)) for k, v in reported.items()},
        "columns": len(staged.summary),
        "summary": MetadataValue.md(markdown_table(staged.summary)),
        "warehouse": MetadataValue.path(str(warehouse)),
    }


def log_outcome(
    context: AssetExecutionContext, problem: str | None, staging: Path, worst: pl.DataFrame
) -> None:
    """Say in the run's log what was refused and which features drifted."""
    if problem is not None:
        context.log.error(
            f"address_features is not usable: {problem}. The warehouse keeps its previous "
            f"feature tables; the refused ones are in {staging} for inspection"
        )
    if worst.height:
        context.log.warning(
            f"feature drift: {worst.height} features with PSI above {MAJOR_SHIFT}: "
            + ", ".join(f"{f} {v:.2f}" for f, v in worst.select("feature", "psi").iter_rows())
        )


@asset(
    deps=[address_universe, raw_transactions, raw_token_transfers, feature_state],
    group_name="features",
    kinds={"duckdb", "sql"},
    tags=WAREHOUSE_TAG,
    backfill_policy=BackfillPolicy.single_run(),
    check_specs=[
        AssetCheckSpec(
            USABLE_CHECK,
            asset="address_features",
            blocking=True,
            description="Some address has activity, and where the label set has addresses the "
            "universe holds some of them: the models do not run on an empty or mismatched "
            "table otherwise.",
        ),
        AssetCheckSpec(
            DRIFT_CHECK,
            asset="address_features",
            description=f"Population stability index per feature against the previous table; "
            f"warns when one is above {MAJOR_SHIFT}.",
        ),
    ],
)
def address_features(
    context: AssetExecutionContext,
    config: AddressFeaturesConfig,
    chain_source: ChainSource,
    lake: ParquetLake,
    warehouse: DuckDBWarehouse,
) -> MaterializeResult:
    """The 44 Farrugia/CatBoost-paper features, the investor-profile features and, in
    `behaviour_features`, gas, contract-call, timing and counterparty behaviour."""
    engine = config.engine or feature_engine()
    require_engine(engine, chain_source)
    as_of = feature_cutoff(lake, warehouse, config.as_of)
    configured = label_broadcast_tokens() if config.exclude_label_broadcast_tokens else ()
    complete = chain_source.holds_complete_histories()
    # a store of chosen accounts' histories knows only their days: the market comes from a file
    market_gas = None if complete else market_gas_prices_file()
    detect = config.exclude_label_broadcast_tokens and config.detect_label_broadcast_tokens
    repair, broadcasts = state_and_detection(
        lake, engine, detect, as_of, market_gas, context.run_id
    )
    provenance = provenance_of_run(
        as_of,
        engine,
        chain_source.describe(),
        complete,
        market_gas,
        lake.root_path(),
        tokens_left_out(configured, broadcasts),
        context.run_id,
    )
    raw: dict[str, SourceOfPart] = {}
    if engine == "local":
        raw = {"raw_transactions": lake.sources("transactions")}
        raw["raw_token_transfers"] = lake.sources("token_transfers")
    staging = staging_file(warehouse.file_path())
    with warehouse.connect() as con:
        require_universe(con)
        previous = numeric_features(con)
        parts, sampled = universe_parts(con, raw)
        require_one_source(provenance.chain_source, parts)
        labels = lake.labelled_addresses().len() if sampled else 0
        # Written to a staging file first: the warehouse's tables are replaced only once the
        # blocking check passed, so no reader ever sees a table the check refused.
        with staging_catalog(con, staging, STAGING_CATALOG, copy_in=[UNIVERSE_TABLE]) as home:
            rows, reported = compute_features(
                con, chain_source, lake, provenance, broadcasts, market_gas, home
            )
            staged = judge_staged(con, rows, labels)
            if staged.usability.problem is None:
                publish_staged(con, STAGING_CATALOG, home, FEATURE_TABLES)
    if staged.usability.problem is None:
        remove_database_file(staging)
    drift = drift_against(previous, staged.current)
    log_outcome(context, staged.usability.problem, staging, major_shifts(drift))
    if repair is not None:
        reported["feature_state_days_rebuilt"] = len(repair.built)
        reported["feature_state_days_removed"] = len(repair.removed)
    return MaterializeResult(
        check_results=feature_checks(staged, labels, staging, drift),
        metadata=feature_metadata(
            staged,
            provenance,
            configured,
            broadcasts,
            reported,
            staging,
            warehouse.file_path(),
        ),
    )
