"""``python -m services.timeline``: run the timeline writer."""

from __future__ import annotations

import asyncio

from plumbing.logging import configure_logging
from services.timeline.app import build_app
from services.timeline.settings import TimelineSettings


def main() -> None:
    settings = TimelineSettings()  # pg_dsn comes from the environment
    configure_logging("timeline", settings.log_level)
    app, _ = build_app(settings)
    asyncio.run(app.run())


if __name__ == "__main__":
    main()
