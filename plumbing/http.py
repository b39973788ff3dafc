"""HTTP conventions shared by the hub's FastAPI apps: one JSON error shape everywhere."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


class ErrorBody(BaseModel):
    code: str
    message: str
    details: list[Any] | None = None


class ErrorResponse(BaseModel):
    """``{"error": {"code": ..., "message": ...}}``: what every 4xx/5xx of the hub looks like."""

    error: ErrorBody


class ApiError(Exception):
    """Raise from a route to answer with :class:`ErrorResponse`."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers


def error_response(
    status: int,
    code: str,
    message: str,
    details: list[Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = ErrorResponse(error=ErrorBody(code=code, message=message, details=details))
    return JSONResponse(jsonable_encoder(body, exclude_none=True), status_code=status, headers=headers)


def _where(loc: Any) -> str:
    """``("query", "to")`` as ``query `to` ``: where in the request a validation error is."""
    parts = [str(part) for part in loc or ()]
    return f"{parts[0]} `{'.'.join(parts[1:])}`" if len(parts) > 1 else "".join(parts) or "request"


def install_error_handlers(app: FastAPI) -> None:
    """Map our errors, FastAPI's validation errors and plain HTTP errors onto :class:`ErrorResponse`."""

    async def on_api_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return error_response(exc.status, exc.code, exc.message, headers=exc.headers)

    async def on_validation(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        details = [{"loc": e.get("loc"), "msg": e.get("msg"), "type": e.get("type")} for e in exc.errors()]
        named = "; ".join(f"{_where(d['loc'])}: {d['msg']}" for d in details)  # which parameter, and why
        return error_response(422, "invalid_request", f"the request is not valid: {named}", details)

    async def on_http(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        return error_response(exc.status_code, f"http_{exc.status_code}", str(exc.detail))

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)


def hub_app(title: str, lifespan: Lifespan) -> FastAPI:
    """A FastAPI app with the hub's conventions: the shared error shape, and no anonymous
    documentation routes (an app that publishes its OpenAPI document does so as a guarded route)."""
    app = FastAPI(
        title=title, version="1", lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None
    )
    install_error_handlers(app)
    return app
