"""A zero-argument app factory, so several ingress processes can serve one port with uvicorn's workers:

    uvicorn --factory services.ingress.asgi:create_app --workers 4 --host 0.0.0.0 --port 8081 \
        --loop uvloop --http httptools --no-access-log

(``python -m services.ingress`` does the same with ``HUB_INGRESS_WORKERS=4``.)

uvicorn's parent binds the port once and its workers accept from that socket, so a worker that dies
takes only its own in-flight requests with it (the providers retry those) and is replaced by the parent.
Every worker has its own Kafka producer and its own ``/metrics`` (Prometheus scrapes pods, not workers:
in Kubernetes run one worker per pod and scale pods instead; see deploy/k8s).
"""

from __future__ import annotations

from fastapi import FastAPI

from plumbing.logging import configure_logging
from plumbing.runtime import tune_collector
from services.ingress.app import build_app
from services.ingress.settings import IngressSettings


def create_app() -> FastAPI:
    """The ingress app, configured from the environment like ``python -m services.ingress``."""
    settings = IngressSettings()
    configure_logging("ingress", settings.log_level)
    app = build_app(settings)
    tune_collector()  # in the worker that serves, once its app is built
    return app
