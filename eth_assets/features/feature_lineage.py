"""Which raw columns each feature reads, derived from the feature SQL itself (sqlglot), so that a
warning about a column the source lacks names every feature it changes without a hand list.

Plain functions, no Dagster. A feature depends on a raw column when the column appears in its
expression, or in a filter, join, grouping or window that decides which rows reach it, through
every CTE, derived table, set operation and subquery. A LEFT JOIN's condition decides only the
joined side's columns, not which rows the query has. The result is conservative: a feature may be
listed for a column that changes it only on some data, never left out.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

import sqlglot
from sqlglot import exp
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import Scope, traverse_scope

from eth_assets.chain.schemas import RAW_TABLES
from eth_assets.common.sql_files import load_sql
from eth_assets.features.feature_tables import BEHAVIOUR_SQL_NAME, SQL_NAME

# The model features' queries, in the order their columns reach the models.
FEATURE_QUERIES: tuple[str, ...] = (SQL_NAME, BEHAVIOUR_SQL_NAME)
# The relations the feature queries read besides the raw tables
# (eth_assets/features/feature_tables.py).
INPUT_RELATIONS: dict[str, dict[str, str]] = {
    "universe": {"address": "VARCHAR"},
    "market_gas_price": {"day": "DATE", "gas_price": "DOUBLE"},
}

Dependencies = set[str]  # "table.column" of the queries' input relations


class _Lineage:
    """Dependencies of every output column of every scope of one qualified query."""

    def __init__(self, tree: exp.Expression) -> None:
        self.scopes = traverse_scope(tree)
        self.by_expression = {id(s.expression): s for s in self.scopes}
        self._outputs: dict[int, dict[str, Dependencies]] = {}
        self._rows: dict[int, Dependencies] = {}
        self._left: dict[int, dict[str, Dependencies]] = {}

    def root(self) -> dict[str, Dependencies]:
        return self.outputs(self.scopes[-1])

    def branches(self, query: exp.SetOperation) -> list[Scope]:
        return [self.by_expression[id(side)] for side in (query.left, query.right)]

    def expression(self, node: exp.Expression, scope: Scope) -> Dependencies:
        """What an expression of `scope` reads: its own columns and its subqueries whole."""
        found: Dependencies = set()
        for column in node.find_all(exp.Column):
            if column.find_ancestor(exp.Select, exp.SetOperation) is scope.expression:
                found |= self.column(column, scope)
        for query in node.find_all(exp.Select, exp.SetOperation):
            inner = self.by_expression.get(id(query))
            if inner is not None and inner is not scope and inner in scope.subquery_scopes:
                found |= self.rows(inner)
                for deps in self.outputs(inner).values():
                    found |= deps
        return found

    def column(self, column: exp.Column, scope: Scope) -> Dependencies:
        source = scope.sources.get(column.table)
        extra = self.left_joins(scope).get(column.table, set())
        if isinstance(source, exp.Table):
            return {f"{source.name}.{column.name}"} | extra
        if isinstance(source, Scope):
            return self.outputs(source).get(column.name, set()) | self.rows(source) | extra
        return set()

    def source_rows(self, name: str, scope: Scope) -> Dependencies:
        source = scope.sources.get(name)
        return self.rows(source) if isinstance(source, Scope) else set()

    def left_joins(self, scope: Scope) -> dict[str, Dependencies]:
        """Per LEFT-joined source: what decides which of its rows join (its own filters and
        the join condition); only that source's columns depend on it."""
        key = id(scope)
        if key not in self._left:
            self._left[key] = {}
            found = {}
            query = scope.expression
            joins = query.args.get("joins") or [] if isinstance(query, exp.Select) else []
            for join in joins:
                if join.side == "LEFT":
                    name = join.this.alias_or_name
                    deps = self.source_rows(name, scope)
                    if join.args.get("on") is not None:
                        deps = deps | self.expression(join.args["on"], scope)
                    found[name] = deps
            self._left[key] = found
        return self._left[key]

    def rows(self, scope: Scope) -> Dependencies:
        """What decides which rows `scope` yields (and so every aggregate over them)."""
        key = id(scope)
        if key in self._rows:
            return self._rows[key]
        self._rows[key] = set()
        query = scope.expression
        found: Dependencies = set()
        if isinstance(query, exp.SetOperation):
            for branch in self.branches(query):
                found |= self.rows(branch)
        else:
            for clause in ("where", "group", "having", "qualify"):
                if query.args.get(clause) is not None:
                    found |= self.expression(query.args[clause], scope)
            source = query.args.get("from") or query.args.get("from_")
            if source is not None:
                found |= self.source_rows(source.this.alias_or_name, scope)
            for join in query.args.get("joins") or []:
                if join.side == "LEFT":
                    continue
                if join.args.get("on") is not None:
                    found |= self.expression(join.args["on"], scope)
                found |= self.source_rows(join.this.alias_or_name, scope)
        self._rows[key] = found
        return found

    def outputs(self, scope: Scope) -> dict[str, Dependencies]:
        key = id(scope)
        if key in self._outputs:
            return self._outputs[key]
        query = scope.expression
        if isinstance(query, exp.SetOperation):
            branches = [list(self.outputs(b).values()) for b in self.branches(query)]
            names = list(self.outputs(self.branches(query)[0]))
            result = {
                name: set().union(*(b[i] for b in branches if i < len(b)))
                for i, name in enumerate(names)
            }
        else:
            rows = self.rows(scope)
            result = {s.alias_or_name: self.expression(s, scope) | rows for s in query.selects}
        self._outputs[key] = result
        return result


def column_lineage(sql: str, schema: Mapping[str, Mapping[str, str]]) -> dict[str, frozenset[str]]:
    """Per output column of the DuckDB query `sql`: the `relation.column` inputs (relations
    and their columns in `schema`) its values can depend on."""
    tree = qualify(
        sqlglot.parse_one(sql, read="duckdb"),
        schema={name: dict(columns) for name, columns in schema.items()},
        dialect="duckdb",
        validate_qualify_columns=False,
        quote_identifiers=False,
    )
    return {name: frozenset(deps) for name, deps in _Lineage(tree).root().items()}


@functools.cache
def feature_lineage() -> dict[str, frozenset[str]]:
    """Per model feature (address_features, then behaviour_features columns): the raw
    `table.column` inputs it reads."""
    schema = {t.name: dict(t.columns) for t in RAW_TABLES.values()} | INPUT_RELATIONS
    found: dict[str, frozenset[str]] = {}
    for name in FEATURE_QUERIES:
        lineage = column_lineage(load_sql(name), schema)
        found |= {column: deps for column, deps in lineage.items() if column != "address"}
    return found


def features_reading(table: str, column: str) -> list[str]:
    """The model features whose values depend on the raw column `table.column`, in table order."""
    key = f"{table}.{column}"
    return [feature for feature, deps in feature_lineage().items() if key in deps]
