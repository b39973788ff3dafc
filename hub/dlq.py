"""``hub dlq``: inspect the dead-letter topic and re-drive its records once their cause is fixed."""

from __future__ import annotations

import asyncio
import json
import os
from typing import Annotated

import typer

from plumbing.settings import HubSettings
from services.timeline.dlq import ATTEMPTS, DeadLetter, read_dead_letters, replay

app = typer.Typer(
    help="The dead-letter topic: list what is parked there and why, replay it.", no_args_is_help=True
)


def _where() -> tuple[str, str]:
    """Kafka (HUB_KAFKA_BOOTSTRAP, else the local stack's) and the topic (HUB_TOPICS__DEAD_LETTER)."""
    settings = HubSettings()
    if "HUB_KAFKA_BOOTSTRAP" in os.environ:
        return settings.kafka_bootstrap, settings.topics.dead_letter
    from hub.stack import LocalKafka, StackSettings

    return LocalKafka(StackSettings()).bootstrap, settings.topics.dead_letter


def _letters(bootstrap: str, topic: str) -> list[DeadLetter]:
    return asyncio.run(read_dead_letters(bootstrap, topic))


def _offset(text: str) -> tuple[int, int]:
    partition, _, offset = text.partition(":")
    if not (partition.isdigit() and offset.isdigit()):
        raise typer.BadParameter(f"{text!r}: expected PARTITION:OFFSET, e.g. 0:12")
    return int(partition), int(offset)


@app.command("list")
def list_command(
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per dead letter")] = False,
) -> None:
    """Every dead letter: partition:offset, source record, attempts, when, and the reason."""
    bootstrap, topic = _where()
    letters = _letters(bootstrap, topic)
    for letter in letters:
        if as_json:
            typer.echo(json.dumps(letter.summary()))
        else:
            tries = letter.headers.get(ATTEMPTS, "?")
            where = f"{letter.partition}:{letter.offset}  from {letter.source or '?'}"
            typer.echo(f"{where}  attempts {tries}  {letter.reason}")
    if not as_json:
        typer.echo(f"{len(letters)} dead letter(s) in {topic}")


@app.command("replay")
def replay_command(
    offsets: Annotated[
        list[str] | None, typer.Argument(help="PARTITION:OFFSET of the dead letters to replay (default: all)")
    ] = None,
    to_topic: Annotated[
        str | None, typer.Option(help="send there instead of each record's source topic")
    ] = None,
) -> None:
    """Publish dead letters back to their source topic. Safe to repeat: stored events are not stored twice."""
    bootstrap, topic = _where()
    only = {_offset(text) for text in offsets} if offsets else None
    letters = _letters(bootstrap, topic)
    if only is not None and (missing := only - {(x.partition, x.offset) for x in letters}):
        raise typer.BadParameter(f"no such dead letter: {', '.join(f'{p}:{o}' for p, o in sorted(missing))}")
    sent = asyncio.run(replay(bootstrap, letters, topic, to_topic=to_topic, only=only))
    typer.echo(f"replayed {sent} dead letter(s)")
