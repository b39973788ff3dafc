"""``python -m services.timeline``: run the timeline writer."""

from __future__ import annotations

import asyncio

from plumbing.kafka_metrics import serve_consumer_metrics
from plumbing.logging import configure_logging
from services.timeline.app import build_app
from services.timeline.settings import TimelineSettings


def main() -> None:
    settings = TimelineSettings()  # pg_dsn comes from the environment
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
    asyncio.run(app.run())


if __name__ == "__main__":
    main()
