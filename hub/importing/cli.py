"""``hub import customers FILE``: the command line of the import (options, progress, report)."""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import psycopg
import typer
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from contracts.identity_rules import ConfigError, IdentityRules, load_identity_rules
from hub.importing.append import Batch, Batches, dry_run_file, import_file
from hub.importing.append import Progress as ProgressCallback
from hub.importing.mapping import map_record
from hub.importing.plan import Stamp
from hub.importing.reading import (
    FileFormat,
    ImportFileError,
    count_lines,
    csv_header,
    format_of,
    read_records,
)
from hub.importing.rows import BadRow
from hub.importing.spec import ColumnSpec, SpecError, build_spec, load_spec_file, parse_pairs
from hub.importing.summary import Totals
from plumbing.eventstore.errors import EventStoreError
from plumbing.eventstore.postgres import translated_errors
from plumbing.runtime import tune_collector

app = typer.Typer(help="Bring customers from another system.", no_args_is_help=True)

#: Exit status when some rows were bad (the good ones are imported).
SOME_ROWS_BAD = 3


class ImportSettings(BaseSettings):
    """The identity rules the timeline writer runs with (``HUB_IDENTITY_RULES``), and the region phones
    without a country code are read in (``HUB_DEFAULT_REGION``), so an import decides as the writer does."""

    model_config = SettingsConfigDict(env_prefix="HUB_", extra="ignore")

    identity_rules: Path | None = None
    default_region: str = Field(default="US", pattern=r"^[A-Z]{2}$")


def _spec(maps: list[str], spec_file: Path | None, region: str | None) -> ColumnSpec:
    try:
        pairs, file_region = load_spec_file(spec_file) if spec_file else ([], None)
        pairs += parse_pairs(maps)
        if not pairs:
            raise SpecError("say which column holds what: --map email=E-mail ... or --spec FILE")
        return build_spec(pairs, region or file_region or ImportSettings().default_region)
    except SpecError as exc:
        raise typer.BadParameter(str(exc), param_hint="--map/--spec") from exc


def _rules() -> IdentityRules:
    try:
        return load_identity_rules(ImportSettings().identity_rules)
    except ConfigError as exc:
        raise typer.BadParameter(str(exc), param_hint="HUB_IDENTITY_RULES") from exc


@dataclass(frozen=True)
class _Source:
    """The export file, checked: its format, how to read it, and its length in lines (the progress total)."""

    path: Path
    file_format: FileFormat
    encoding: str
    delimiter: str
    lines: int

    def batches(self, spec: ColumnSpec, size: int) -> Iterator[Batch]:
        """The file's records, mapped, in batches of ``size``."""
        today, region = datetime.now(UTC).date(), spec.region or "US"
        mapped = (
            record if isinstance(record, BadRow) else map_record(record, spec, region, today)
            for record in read_records(self.path, self.file_format, self.encoding, self.delimiter)
        )
        while batch := list(itertools.islice(mapped, size)):
            yield batch


def _source(
    path: Path, given: FileFormat | None, encoding: str, delimiter: str | None, spec: ColumnSpec
) -> _Source:
    """The file, once its format is known and (CSV) its header has every column the spec names."""
    try:
        file_format = format_of(path, given)
        separator = delimiter or ("\t" if path.suffix.lower() == ".tsv" else ",")
        if file_format is FileFormat.CSV:
            missing = spec.missing_from(csv_header(path, encoding, separator))
            if missing:
                raise ImportFileError(f"{path.name} has no column {', '.join(map(repr, missing))}")
        return _Source(path, file_format, encoding, separator, count_lines(path))
    except ImportFileError as exc:
        raise typer.BadParameter(str(exc), param_hint="FILE") from exc


class _Bar:
    """A progress bar on stderr (lines done of the file's lines, rows/s, ETA), or nothing when not shown."""

    def __init__(self, total: int, shown: bool) -> None:
        self.progress = (
            Progress(
                TextColumn("importing"),
                BarColumn(),
                TaskProgressColumn(),
                MofNCompleteColumn(),
                TextColumn("lines  {task.fields[rate]} rows/s"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=Console(stderr=True),
            )
            if shown
            else None
        )
        self.task = self.progress.add_task("import", total=total, rate="-") if self.progress else None

    def __enter__(self) -> _Bar:
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, *_: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def advance(self, line: int) -> None:
        """The import is done up to ``line``."""
        if self.progress is None or self.task is None:
            return
        self.progress.update(self.task, completed=line)
        speed = self.progress.tasks[self.task].speed
        self.progress.update(self.task, rate=f"{speed:,.0f}" if speed else "-")


def _report(totals: Totals, as_json: bool) -> None:
    for bad in sorted(totals.bad, key=lambda row: row.line):
        typer.echo(f"line {bad.line}: {bad.reason}", err=True)
    if as_json:
        typer.echo(json.dumps(totals.as_json(), indent=2))
    else:
        for line in totals.lines():
            typer.echo(line)


async def _run(
    dsn: str, dry_run: bool, batches: Batches, rules: IdentityRules, stamp: Stamp, progress: ProgressCallback
) -> Totals:
    async with translated_errors(), await psycopg.AsyncConnection.connect(dsn) as conn:
        if dry_run:
            return await dry_run_file(conn, batches, rules, stamp, progress)
        return await import_file(conn, batches, rules, stamp, progress)


@app.command()
def customers(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="CSV or JSONL")],
    maps: Annotated[
        list[str] | None,
        typer.Option("--map", help="TARGET=COLUMN, e.g. email=E-mail, phone=Phone, name='Full name'"),
    ] = None,
    spec_file: Annotated[
        Path | None, typer.Option("--spec", exists=True, dir_okay=False, help="TOML or JSON column spec")
    ] = None,
    file_format: Annotated[
        FileFormat | None, typer.Option("--format", help="default: from the suffix")
    ] = None,
    encoding: Annotated[str, typer.Option(help="the file's text encoding")] = "utf-8-sig",
    delimiter: Annotated[
        str | None, typer.Option(help="CSV field separator (default , or tab for .tsv)")
    ] = None,
    region: Annotated[
        str | None, typer.Option(help="country phones without a code are in (default HUB_DEFAULT_REGION)")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="report what would happen; write nothing")
    ] = False,
    batch_size: Annotated[int, typer.Option(min=1, max=50_000, help="rows per transaction")] = 2_000,
    progress: Annotated[
        bool | None,
        typer.Option("--progress/--no-progress", help="progress bar on stderr (default: on a TTY)"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
) -> None:
    """Import customers (identities, names, profile attributes) from another CRM's export.

    Rows are matched to customers by the hub's own identity resolution; each row's events carry actor
    ``import`` and ids derived from the row, so importing the same file again adds nothing. Bad rows are
    listed on stderr with their line and reason, and the good ones imported (exit status 3 when any was
    bad)."""
    from hub.stack import ensure_postgres

    spec = _spec(maps or [], spec_file, region)
    source = _source(file, file_format, encoding, delimiter, spec)
    rules = _rules()
    stamp = Stamp(datetime.now(UTC), f"import-{uuid.uuid4()}")
    tune_collector()  # thousands of rows' objects live per batch: the default collector rescans them
    with _Bar(source.lines, sys.stderr.isatty() if progress is None else progress) as bar:
        try:
            totals = asyncio.run(
                _run(
                    ensure_postgres(),
                    dry_run,
                    lambda: source.batches(spec, batch_size),
                    rules,
                    stamp,
                    bar.advance,
                )
            )
        except ImportFileError as exc:  # found past the header (text that does not decode)
            typer.echo(str(exc), err=True)
            raise typer.Exit(code=2) from exc
        except EventStoreError as exc:
            typer.echo(f"the store refused the import: {exc}", err=True)
            raise typer.Exit(code=1) from exc
    _report(totals, as_json)
    if totals.bad:
        raise typer.Exit(code=SOME_ROWS_BAD)
