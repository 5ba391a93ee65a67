"""Read-only row queries over an annotated Parquet file with DuckDB.

Filters are fixed names mapped to `slick_` columns and every user value is a bound
parameter; column names are checked against the file's schema before they are quoted into
the query. User-written SQL never runs here (that is `slick query`, on the user's machine).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow.parquet as pq
from slick_client.schemas import CATEGORIES, RowsPublic

from slick_curator.curation.export import jsonable

__all__ = ["FILTERS", "RowQueryError", "query_rows"]

# filter name -> (column, allowed values or None for "any value the file has")
FILTERS: dict[str, tuple[str, tuple[str, ...] | None]] = {
    "category": ("slick_category", CATEGORIES),
    "group": ("slick_group", None),
    "status": ("slick_status", ("probed", "no_facts", "skipped")),
    "recommendation": ("slick_recommendation", ("keep", "drop", "relabel")),
}
ROW = "slick_row"
_SHOWN = 20


class RowQueryError(ValueError):
    """A bad filter, value or column; `param` names the query parameter at fault."""

    def __init__(self, message: str, *, param: str) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def query_rows(path: str | os.PathLike, *, filters: Mapping[str, Sequence[str]],
               columns: Sequence[str] | None = None, limit: int = 50,
               offset: int = 0) -> RowsPublic:
    """A page of rows matching every filter (any of its values), in input order.

    `filters` maps a name of FILTERS to accepted values; `columns` selects columns (default:
    all). Each row gets `slick_row`, its 0-based input row. Raises RowQueryError for an
    unknown filter, value or column.
    """
    import duckdb

    names = pq.read_schema(path).names
    selected = list(dict.fromkeys(columns)) if columns else [n for n in names if n != ROW]
    missing = [c for c in selected if c not in names]
    if missing:
        raise RowQueryError(f"unknown column {missing[0]!r}; columns: "
                            f"{', '.join(names[:_SHOWN])}{' …' if len(names) > _SHOWN else ''}",
                            param="columns")
    con = duckdb.connect()
    try:
        source = "read_parquet(?, file_row_number = true)"
        where, args = [], []
        for name, values in filters.items():
            if not values:
                continue
            if name not in FILTERS:
                raise RowQueryError(f"unknown filter {name!r}; filters: {', '.join(FILTERS)}",
                                    param=name)
            column, allowed = FILTERS[name]
            _check_values(con, path, name, column, values, allowed)
            where.append(f"{_quote(column)} IN ({', '.join('?' * len(values))})")
            args += list(values)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        count = con.sql(f"SELECT count(*) FROM {source} {clause}",
                        params=[os.fspath(path), *args]).fetchall()[0][0]
        listed = ", ".join(_quote(c) for c in selected)
        table = con.sql(
            f"SELECT file_row_number AS {ROW}, {listed} FROM {source} {clause} "
            "ORDER BY file_row_number LIMIT ? OFFSET ?",
            params=[os.fspath(path), *args, limit, offset]).to_arrow_table()
    finally:
        con.close()
    data = [jsonable(r) for r in table.to_pylist()]
    return RowsPublic(data=data, count=count, limit=limit, offset=offset,
                      columns=[ROW, *selected])


def _check_values(con: Any, path: str | os.PathLike, name: str, column: str,
                  values: Sequence[str], allowed: tuple[str, ...] | None) -> None:
    if allowed is not None:
        bad = [v for v in values if v not in allowed]
        if bad:
            raise RowQueryError(f"unknown {name} {bad[0]!r}; expected one of "
                                f"{', '.join(allowed)}", param=name)
        return
    present = {r[0] for r in con.sql(
        f"SELECT DISTINCT {_quote(column)} FROM read_parquet(?) WHERE {_quote(column)} IN "
        f"({', '.join('?' * len(values))})", params=[os.fspath(path), *values]).fetchall()}
    bad = [v for v in values if v not in present]
    if bad:
        known = sorted(r[0] for r in con.sql(
            f"SELECT DISTINCT {_quote(column)} FROM read_parquet(?) WHERE {_quote(column)} "
            f"IS NOT NULL ORDER BY 1 LIMIT {_SHOWN + 1}", params=[os.fspath(path)]).fetchall())
        more = " …" if len(known) > _SHOWN else ""
        raise RowQueryError(f"no {name} {bad[0]!r} in this result; {name}s: "
                            f"{', '.join(known[:_SHOWN])}{more}", param=name)
