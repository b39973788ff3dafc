"""The ingress counts every delivery by provider, outcome and reason, and serves the counts."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from hub.stack import Infra
from tests.support.signed_webhooks import running_ingress

pytestmark = pytest.mark.integration


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name.startswith("hub_webhook")
    }


async def test_accepted_rejected_and_ignored_deliveries_are_counted_with_their_reasons(
    infra: Infra, tmp_path: Path
) -> None:
    async with running_ingress(infra.kafka_bootstrap, tmp_path) as ingress:
        widget = ingress.carriers["widget"].sample()
        forged = {**widget.headers, "X-Hub-Signature-256": "sha256=" + "0" * 64}
        telegram = ingress.carriers["telegram"]
        ignored = telegram.signed(b'{"update_id": 7, "poll": {"id": "1"}}')
        answers = [
            await ingress.send(widget),
            await ingress.client.post(widget.path, content=widget.body, headers=forged),
            await ingress.send(ignored),
            await ingress.send(telegram.signed(b"{not json")),
        ]
        metrics = await ingress.client.get("/metrics/")

    assert [a.status_code for a in answers] == [200, 401, 200, 422]
    counts = _samples(metrics.text)

    def delivered(provider: str, outcome: str, reason: str = "") -> float:
        labels = (("outcome", outcome), ("provider", provider), ("reason", reason))
        return counts.get(("hub_webhook_deliveries_total", labels), 0.0)

    assert delivered("widget", "accepted") == 1
    assert delivered("widget", "rejected", "invalid_signature") == 1
    assert delivered("telegram", "ignored") == 1
    assert delivered("telegram", "rejected", "invalid_payload") == 1
    assert counts[("hub_webhook_events_published_total", (("provider", "widget"),))] == 1
