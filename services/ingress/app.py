"""The ingress HTTP app: verify, translate, store the evidence and publish, and only then answer 2xx."""

from __future__ import annotations

import hmac
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
import structlog
from aiokafka import AIOKafkaProducer  # type: ignore[import-untyped, unused-ignore]
from fastapi import FastAPI, Query, Request
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import make_asgi_app
from pydantic import BaseModel
from tenacity import AsyncRetrying, stop_after_delay, wait_exponential

from contracts import InteractionEvent
from plumbing.blobs import FileBlobStore
from plumbing.http import ApiError, ErrorResponse, hub_app
from plumbing.kafka import make_producer
from services.ingress.body import read_capped_body
from services.ingress.delivery import Delivery
from services.ingress.endpoints import ENDPOINTS, Endpoint
from services.ingress.errors import IgnoredDelivery, InvalidPayload, InvalidSignature
from services.ingress.evidence import EvidenceUnavailable, point_at_evidence, store_evidence
from services.ingress.metrics import IngressMetrics, Outcome
from services.ingress.publish import PublishFailed, start_publishing
from services.ingress.settings import IngressSettings

log = structlog.get_logger()
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": text}
    for code, text in {
        401: "signature missing or wrong; nothing was published",
        404: "channel not enabled here",
        413: "body too large",
        422: "payload is not what the provider sends; nothing was published",
        503: "Kafka did not confirm in time, or the evidence store failed; retry later",
    }.items()
}


class Accepted(BaseModel):
    """What a 200 means: Kafka has every event of this delivery (none when it was ``ignored``)."""

    accepted: int
    event_ids: list[uuid.UUID]
    ignored: str | None = None


def _public_url(settings: IngressSettings, request: Request) -> str:
    """The URL the provider called: behind a proxy, the configured public base URL plus the path."""
    if settings.public_base_url is None:
        return str(request.url)
    query = f"?{request.url.query}" if request.url.query else ""
    return settings.public_base_url.rstrip("/") + request.url.path + query


def _answer(endpoint: Endpoint, event_ids: Sequence[uuid.UUID], ignored: str | None = None) -> Response:
    """The JSON :class:`Accepted`, or the fixed plain text the provider insists on (VK: ``ok``).

    Rendered here with orjson: a returned ``Response`` skips FastAPI's validation and encoding of the
    response model, which cost more than building the answer (the model still documents it)."""
    if endpoint.plain_reply is not None:
        return PlainTextResponse(endpoint.plain_reply)
    accepted = {"accepted": len(event_ids), "event_ids": list(event_ids), "ignored": ignored}
    return Response(orjson.dumps(accepted), media_type="application/json")


def _verified(endpoint: Endpoint, delivery: Delivery, settings: IngressSettings) -> int:
    """The index of the secret that proves ``delivery``; 404 when the channel is off, 401 when forged."""
    secrets = endpoint.secrets(settings)
    if not secrets:
        raise ApiError(404, "channel_disabled", f"{endpoint.provider} webhooks are not enabled")
    try:
        return endpoint.verify(delivery, secrets)
    except InvalidSignature as exc:
        log.warning("webhook_rejected", provider=endpoint.provider, reason=exc.code, detail=str(exc))
        raise ApiError(401, exc.code, str(exc)) from exc


def _translated(
    endpoint: Endpoint,
    delivery: Delivery,
    settings: IngressSettings,
    received_at: datetime,
    correlation_id: str,
) -> list[InteractionEvent]:
    """The delivery's events; :class:`IgnoredDelivery` passes through, a bad payload is a 422."""
    try:
        return list(
            endpoint.translator_for(delivery)(
                delivery.body,
                received_at=received_at,
                correlation_id=correlation_id,
                default_region=settings.default_region,
            )
        )
    except InvalidPayload as exc:
        log.warning("webhook_rejected", provider=endpoint.provider, reason=exc.code, detail=str(exc))
        raise ApiError(422, exc.code, str(exc)) from exc


def _with_evidence(
    endpoint: Endpoint,
    delivery: Delivery,
    events: list[InteractionEvent],
    key_index: int,
    received_at: datetime,
) -> tuple[list[InteractionEvent], tuple[bytes, ...]]:
    """``events`` pointing at the delivery's evidence, and the evidence's bytes (body, attachments)."""
    attachments = tuple(endpoint.attachments_of(delivery))
    pointed = point_at_evidence(
        delivery,
        events,
        endpoint_path=endpoint.path,
        scheme=endpoint.scheme,
        key_index=key_index,
        attachments=attachments,
        verified_at=received_at,
    )
    return pointed, (delivery.body, *attachments)


async def _store_and_publish(
    app: FastAPI,
    settings: IngressSettings,
    provider: str,
    correlation_id: str,
    events: list[InteractionEvent],
    evidence: tuple[bytes, ...],
) -> None:
    """Publish the events and store the evidence at the same time; return once both are done.

    The records go to the producer first (it sends them in the background, batched with other
    webhooks'), then the evidence is written, then Kafka's acknowledgements are awaited. Either failing
    is a 503: the provider retries the whole delivery, and since the blobs are content-addressed and
    the event ids deterministic, a retry neither doubles evidence nor events. Kafka may then hold
    events whose evidence is not stored yet; the retry stores it.
    """
    try:
        publication = await start_publishing(
            app.state.producer, settings.topics.interactions, events, settings.publish_timeout_s
        )
        try:
            await store_evidence(app.state.blobs, evidence)
        finally:  # also when the evidence failed: nothing is left unawaited
            await publication.confirmed()
    except EvidenceUnavailable as exc:
        log.error("evidence_unavailable", provider=provider, correlation_id=correlation_id, reason=str(exc))
        raise ApiError(503, "evidence_store_unavailable", str(exc), {"Retry-After": "5"}) from exc
    except PublishFailed as exc:
        log.error("publish_failed", provider=provider, correlation_id=correlation_id, reason=str(exc))
        raise ApiError(503, "kafka_unavailable", str(exc), {"Retry-After": "5"}) from exc


def _route(settings: IngressSettings, endpoint: Endpoint, metrics: IngressMetrics) -> Any:
    async def receive(request: Request) -> Response:
        # Every delivery is counted once, by what became of it.
        try:
            outcome, answer, published = await handle(request)
        except ApiError as exc:
            failed = Outcome.UNAVAILABLE if exc.status >= 500 else Outcome.REJECTED
            metrics.delivery(endpoint.provider, failed, exc.code)
            raise
        metrics.delivery(endpoint.provider, outcome, events=published)
        return answer

    async def handle(request: Request) -> tuple[Outcome, Response, int]:
        body = await read_capped_body(request, settings.max_body_bytes)
        delivery = Delivery(body, request.headers, _public_url(settings, request), request.path_params)
        key_index = _verified(endpoint, delivery, settings)
        if endpoint.handshake is not None and (reply := endpoint.handshake(delivery, settings)) is not None:
            log.info("webhook_handshake", provider=endpoint.provider)
            return Outcome.HANDSHAKE, PlainTextResponse(reply), 0
        correlation_id = request.headers.get("x-request-id", "")[:200].strip() or str(uuid.uuid4())
        received_at = datetime.now(UTC)
        try:
            translated = _translated(endpoint, delivery, settings, received_at, correlation_id)
        except IgnoredDelivery as exc:
            log.info(
                "webhook_ignored", provider=endpoint.provider, reason=str(exc), correlation_id=correlation_id
            )
            return Outcome.IGNORED, _answer(endpoint, [], ignored=str(exc)), 0
        events, evidence = _with_evidence(endpoint, delivery, translated, key_index, received_at)
        await _store_and_publish(request.app, settings, endpoint.provider, correlation_id, events, evidence)
        ids = [event.event_id for event in events]
        log.info("webhook_accepted", provider=endpoint.provider, event_ids=[str(i) for i in ids])
        return Outcome.ACCEPTED, _answer(endpoint, ids), len(ids)

    receive.__name__ = f"receive_{endpoint.provider}"
    receive.__doc__ = endpoint.summary
    return receive


def _meta_handshake(settings: IngressSettings) -> Any:
    async def verify_subscription(
        mode: Annotated[str, Query(alias="hub.mode")],
        token: Annotated[str, Query(alias="hub.verify_token")],
        challenge: Annotated[str, Query(alias="hub.challenge", max_length=200)],
    ) -> PlainTextResponse:
        """Meta's subscription handshake: echo the challenge when the verify token matches."""
        expected = settings.meta_verify_token
        if (
            mode != "subscribe"
            or expected is None
            or not hmac.compare_digest(token.encode(), expected.get_secret_value().encode())
        ):
            raise ApiError(403, "verification_failed", "hub.verify_token does not match")
        return PlainTextResponse(challenge)

    return verify_subscription


async def _connect(settings: IngressSettings) -> AIOKafkaProducer:
    """The started producer, retrying for a while at start-up: Kafka may still be starting. A producer
    whose start failed is closed and a new one tried (aiokafka's is not restartable)."""
    async for attempt in AsyncRetrying(
        stop=stop_after_delay(60), wait=wait_exponential(0.2, max=3), reraise=True
    ):
        with attempt:
            # The records of webhooks handled at the same moment share a produce request: fewer requests
            # for the broker and this process. The wait costs no latency while the evidence's fsync,
            # done at the same time, takes longer.
            producer = make_producer(
                settings.kafka_bootstrap, client_id="ingress", linger_ms=settings.kafka_linger_ms
            )
            try:
                await producer.start()
            except BaseException:
                await producer.stop()
                raise
            return producer
    raise AssertionError("unreachable: the retry loop returns or re-raises")  # for mypy


def build_app(settings: IngressSettings) -> FastAPI:
    """The ingress app; the Kafka producer (``app.state.producer``) connects with the app's lifespan."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        producer = await _connect(settings)
        app.state.producer = producer
        try:
            yield
        finally:
            await producer.stop()

    app = hub_app("Interaction Hub ingress", lifespan)  # only health and the signed webhooks answer
    app.state.blobs = FileBlobStore(settings.blob_dir)
    metrics = IngressMetrics()
    app.mount("/metrics", make_asgi_app(metrics.registry))

    @app.get("/health", tags=["health"])
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    for endpoint in (each.configured(settings) for each in ENDPOINTS):
        app.add_api_route(
            endpoint.path,
            _route(settings, endpoint, metrics),
            methods=["POST"],
            response_model=Accepted,
            responses=ERRORS,
            tags=[endpoint.channel],
            summary=endpoint.summary,
        )
    app.add_api_route(
        "/webhooks/social/meta",
        _meta_handshake(settings),
        methods=["GET"],
        tags=["social"],
        response_model=None,
    )
    return app
