"""The totals of an import run, as the command prints them (text, or JSON with ``--json``). Pure."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from hub.importing.plan import BatchPlan, MergeNote, RefusalNote
from hub.importing.rows import BadRow


@dataclass
class Totals:
    """Counts over every batch; merges, refusals and bad rows listed by line (never by value)."""

    dry_run: bool
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    imported_before: int = 0
    repeated: int = 0
    links: int = 0
    attributes: int = 0
    events: int = 0
    merges: list[MergeNote] = field(default_factory=list)
    refusals: list[RefusalNote] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    bad: list[BadRow] = field(default_factory=list)
    seconds: float = 0.0

    def add_plan(self, plan: BatchPlan) -> None:
        for outcome in plan.outcomes:
            if outcome.is_new_customer:
                self.created += 1
            elif outcome.changed:
                self.updated += 1
            else:
                self.unchanged += 1
            self.links += outcome.links
            self.attributes += outcome.attributes
        self.imported_before += plan.imported_before
        self.events += plan.events
        self.merges += plan.merges
        self.refusals += plan.refusals
        for reason, count in plan.skipped.items():
            self.skipped[reason] = self.skipped.get(reason, 0) + count
        self.bad += plan.bad

    @property
    def rate(self) -> float:
        """Rows per second over the whole run."""
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "rows": self.rows,
            "customers": {"created": self.created, "updated": self.updated, "unchanged": self.unchanged},
            "imported_before": self.imported_before,
            "repeated_in_file": self.repeated,
            "identities_linked": self.links,
            "attributes_set": self.attributes,
            "events": self.events,
            "merges": [
                {
                    "line": m.line,
                    "survivor": str(m.survivor),
                    "absorbed": str(m.absorbed),
                    "rule": m.rule,
                    "kinds": list(m.kinds),
                }
                for m in self.merges
            ],
            "merges_refused": [
                {"line": r.line, "customer": str(r.customer), "other": str(r.other), "reason": r.reason}
                for r in self.refusals
            ],
            "identities_skipped": dict(sorted(self.skipped.items())),
            "bad_rows": [{"line": b.line, "reason": b.reason} for b in sorted(self.bad, key=_line)],
            "seconds": round(self.seconds, 3),
            "rows_per_second": round(self.rate),
        }

    def lines(self) -> Iterator[str]:
        would = "would be " if self.dry_run else ""
        head = "dry run, nothing written: " if self.dry_run else ""
        yield f"{head}{self.rows} rows in {self.seconds:.1f} s"
        yield (
            f"customers {would}created: {self.created}, {would}updated: {self.updated},"
            f" unchanged: {self.unchanged}"
        )
        yield (
            f"identities {would}linked: {self.links}, attributes {would}set: {self.attributes},"
            f" events: {self.events}"
        )
        yield f"rows imported before: {self.imported_before}, repeated in the file: {self.repeated}"
        yield f"merges{' it would cause' if self.dry_run else ''}: {len(self.merges)}"
        for merge in self.merges:
            yield (
                f"  line {merge.line}: {merge.absorbed} into {merge.survivor}"
                f" ({merge.rule}, shared {', '.join(merge.kinds)})"
            )
        if self.refusals:
            yield f"merges the identity rules refused: {len(self.refusals)}"
            for refusal in self.refusals:
                apart = f"{refusal.customer} and {refusal.other} stay apart"
                yield f"  line {refusal.line}: {apart} ({refusal.reason})"
        for reason, count in sorted(self.skipped.items()):
            yield f"identities left out ({reason}): {count}"
        yield f"bad rows: {len(self.bad)} (listed on stderr)"
        yield f"rate: {self.rate:,.0f} rows/s"


def _line(bad: BadRow) -> int:
    return bad.line
