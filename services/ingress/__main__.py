"""``python -m services.ingress``: serve the webhook endpoints with uvicorn (httptools, uvloop).

``HUB_INGRESS_WORKERS`` > 1 runs that many processes on the one port (uvicorn's workers: the parent
binds the port, each worker accepts from it and has its own Kafka producer; a worker that dies is
replaced). Access logs are off: the app logs what became of every delivery itself.
"""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI

from plumbing.logging import configure_logging
from plumbing.runtime import tune_collector
from services.ingress.app import build_app
from services.ingress.settings import IngressSettings

#: The app factory each worker process calls (it reads the same environment).
FACTORY = "services.ingress.asgi:create_app"


def serve(app: FastAPI | str, settings: IngressSettings) -> None:
    """Serve ``app`` (or, with several workers, the factory's) on the configured port."""
    uvicorn.run(
        app,
        host=settings.ingress_host,
        port=settings.ingress_port,
        factory=isinstance(app, str),
        workers=settings.ingress_workers if isinstance(app, str) else None,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_config=None,
    )


def main() -> None:
    settings = IngressSettings()
    configure_logging("ingress", settings.log_level)
    if settings.ingress_workers > 1:
        serve(FACTORY, settings)  # each worker tunes its own collector (services.ingress.asgi)
        return
    app = build_app(settings)
    tune_collector()
    serve(app, settings)


if __name__ == "__main__":
    main()
