"""`slick query annotated.parquet "SQL"`: DuckDB over an annotated file, on your machine.

The file is a view named `annotated`. This runs whatever SQL you give it, so it exists only in
the CLI; the service's `/rows` route takes fixed, parameterised filters instead.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import click

_WIDTH = 40


def _cell(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, (list, dict)):
        text = json.dumps(value, ensure_ascii=False, default=str)
    else:
        text = str(value)
    text = text.replace("\n", "⏎")
    return text if len(text) <= _WIDTH else text[: _WIDTH - 1] + "…"


def _table(names: list[str], rows: list[tuple], more: int) -> str:
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(n)] + [len(r[i]) for r in cells]) for i, n in enumerate(names)]
    line = "  ".join("-" * w for w in widths)
    out = ["  ".join(n.ljust(w) for n, w in zip(names, widths, strict=True)), line]
    for r in cells:
        out.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    out.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''}"
               + (f", {more} more not shown; use --max-rows" if more else "") + ")")
    return "\n".join(out)


def _csv(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return value


@click.command()
@click.argument("annotated", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("sql")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
              show_default=True)
@click.option("--max-rows", type=click.IntRange(1), default=100, show_default=True,
              help="Rows shown as a table (csv and json print all).")
def query(annotated: Path, sql: str, fmt: str, max_rows: int) -> None:
    """Run SQL over ANNOTATED, exposed as the view `annotated`.

    \b
    slick query p36.parquet "SELECT slick_category, count(*) FROM annotated GROUP BY 1"
    slick query p36.parquet "SELECT question, slick_greedy_answers FROM annotated
                             WHERE slick_category = 'Unknown' LIMIT 5" --format json
    """
    import duckdb

    con = duckdb.connect()
    try:
        literal = str(annotated.resolve()).replace("'", "''")
        con.execute(f"CREATE VIEW annotated AS SELECT * FROM read_parquet('{literal}')")
        cursor = con.execute(sql)
        if cursor.description is None:
            return  # a statement without a result
        names = [d[0] for d in cursor.description]
        if fmt == "table":
            rows = cursor.fetchmany(max_rows)
            more = 0
            while chunk := cursor.fetchmany(10_000):
                more += len(chunk)
            click.echo(_table(names, rows, more))
        elif fmt == "csv":
            writer = csv.writer(sys.stdout)
            writer.writerow(names)
            while chunk := cursor.fetchmany(10_000):
                writer.writerows([_csv(v) for v in row] for row in chunk)
        else:
            records = [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
            click.echo(json.dumps(records, ensure_ascii=False, default=str, indent=2))
    except duckdb.Error as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    finally:
        con.close()
