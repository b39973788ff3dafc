"""``python -m services.timeline``: run the timeline writer."""

from __future__ import annotations

import uvloop

from contracts.ids import require_id_key
from plumbing.kafka_metrics import serve_consumer_metrics
from plumbing.logging import configure_logging
from plumbing.runtime import tune_collector
from services.timeline.app import build_app
from services.timeline.settings import TimelineSettings


def main() -> None:
    settings = TimelineSettings()  # pg_dsn comes from the environment
    require_id_key()  # without HUB_ID_KEY, fail the start rather than the first message
    configure_logging("timeline", settings.log_level)
    app, broker = build_app(settings)
    serve_consumer_metrics(  # consumer lag, dead-letter depth and /health on HUB_METRICS_PORT
        app,
        broker,
        bootstrap=settings.kafka_bootstrap,
        group=settings.timeline_group,
        consumed=[settings.topics.interactions],
        counted=[settings.topics.dead_letter],
    )
    tune_collector()
    uvloop.run(app.run())  # a faster event loop: the writer waits on Kafka and PostgreSQL many times a batch


if __name__ == "__main__":
    main()
