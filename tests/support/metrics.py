"""Reading Prometheus text the way Prometheus does (prometheus_client's parser), for metrics tests."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families


@dataclass(frozen=True)
class Scrape:
    """One scrape: every sample by name and labels."""

    samples: dict[tuple[str, frozenset[tuple[str, str]]], float]

    @classmethod
    def parse(cls, text: str) -> Scrape:
        return cls(
            {
                (sample.name, frozenset(sample.labels.items())): sample.value
                for family in text_string_to_metric_families(text)
                for sample in family.samples
            }
        )

    def value(self, name: str, **labels: str) -> float:
        """The sample ``name{labels}``; KeyError naming what exists when it is absent."""
        key = (name, frozenset(labels.items()))
        if key not in self.samples:
            known = sorted(f"{n}{dict(ls)}" for n, ls in self.samples if n == name)
            raise KeyError(f"{name}{labels} not scraped; {name} has: {known}")
        return self.samples[key]

    def names(self) -> set[str]:
        return {name for name, _ in self.samples}


async def scrape(client: httpx.AsyncClient, url: str = "/metrics") -> Scrape:
    answer = await client.get(url)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    return Scrape.parse(answer.text)
