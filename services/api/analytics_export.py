"""Every report as JSON or CSV: the same rows, flattened for CSV (``revenue.EUR`` columns for maps,
JSON text for lists), with a header that is the union of all rows' columns in first-seen order."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any, Literal

from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

Format = Literal["json", "csv"]
#: A cell starting with one of these is a formula to a spreadsheet: text from outside (a campaign name)
#: must not become one, so it is prefixed with an apostrophe.
_FORMULA_START = ("=", "+", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _flat(document: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in document.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flat(value, f"{name}."))
        elif isinstance(value, list):
            out[name] = _cell(json.dumps(value, separators=(",", ":")))
        else:
            out[name] = "" if value is None else _cell(value)
    return out


def to_csv(documents: Sequence[dict[str, Any]]) -> str:
    flat = [_flat(d) for d in documents]
    columns = list(dict.fromkeys(key for row in flat for key in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(flat)
    return buffer.getvalue()


def answer(
    name: str, items: Sequence[BaseModel | dict[str, Any]], fmt: Format, extra: dict[str, Any] | None = None
) -> Response:
    """``{"items": [...], **extra}`` as JSON, or the items as a CSV download named ``name.csv``."""
    documents = [i.model_dump(mode="json") if isinstance(i, BaseModel) else i for i in items]
    if fmt == "csv":
        return Response(
            to_csv(documents),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    return JSONResponse({"items": documents, **(extra or {})})
