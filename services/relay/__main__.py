"""``python -m services.relay``: publish the store's global log to the timeline topic."""

from __future__ import annotations

import asyncio
import signal

from plumbing.logging import configure_logging
from plumbing.runtime import tune_collector
from services.relay.runner import run_relay
from services.relay.settings import RelaySettings


async def _run(settings: RelaySettings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await run_relay(settings, stop)


def main() -> None:
    settings = RelaySettings()  # pg_dsn comes from the environment
    configure_logging("relay", settings.log_level)
    tune_collector()
    asyncio.run(_run(settings))


if __name__ == "__main__":
    main()
