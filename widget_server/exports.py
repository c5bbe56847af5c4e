"""CSV answers for spreadsheets: UTF-8 with a BOM (so Excel reads Chinese titles), and no
cell a spreadsheet would run as a formula.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping

from flask import Response

# OWASP's list: a cell starting with one of these is read as a formula by spreadsheets.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: object) -> str:
    """A CSV cell: empty for None; text starting like a formula gets a leading quote."""
    if value is None:
        return ""
    if isinstance(value, str):
        return "'" + value if value.startswith(FORMULA_STARTS) else value
    return str(value)


def to_csv(rows: Iterable[Mapping[str, object]], columns: list[str]) -> str:
    """A header of ``columns``, then one line per row (CRLF, as RFC 4180 says)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([cell(row.get(column)) for column in columns])
    return out.getvalue()


def csv_response(rows: Iterable[Mapping[str, object]], columns: list[str], filename: str) -> Response:
    response = Response("\ufeff" + to_csv(rows, columns), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
