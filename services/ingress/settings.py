"""Settings of the ingress: per-channel secrets (current and previous, for rotation), limits."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from plumbing.settings import HubSettings

Secrets = Annotated[list[SecretStr], NoDecode]


class IngressSettings(HubSettings):
    """A channel whose secret list is empty is disabled (its endpoint answers 404).

    Secret lists are comma-separated, newest first: ``HUB_SHOPIFY_SECRETS=new,old`` during rotation.
    """

    ingress_host: str = "127.0.0.1"
    ingress_port: int = Field(default=8081, ge=1, le=65535)
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    publish_timeout_s: float = Field(default=5.0, gt=0, description="then 503, so the provider retries")
    public_base_url: str | None = Field(
        default=None, description="the scheme://host[:port] providers call, when behind a proxy (signed URLs)"
    )
    mta_secrets: Secrets = Field(default_factory=list)
    widget_secrets: Secrets = Field(default_factory=list)
    meta_app_secrets: Secrets = Field(default_factory=list)
    meta_verify_token: SecretStr | None = None
    shopify_secrets: Secrets = Field(default_factory=list)
    telegram_secrets: Secrets = Field(default_factory=list, description="secret_token of setWebhook")
    vk_secrets: Secrets = Field(default_factory=list, description="the Callback API `secret` field")
    vk_confirmation: SecretStr | None = Field(default=None, description="string answered to `confirmation`")
    mailgun_secrets: Secrets = Field(default_factory=list, description="webhook signing keys")
    sendgrid_secrets: Secrets = Field(default_factory=list, description="basic-auth password or bearer token")
    square_secrets: Secrets = Field(default_factory=list, description="subscription signature keys")
    twilio_secrets: Secrets = Field(default_factory=list, description="account auth tokens")
    till_secrets: Secrets = Field(default_factory=list, description="our tills' receipt signing secrets")
    generic_secrets: Secrets = Field(default_factory=list, description="Standard Webhooks whsec_ secrets")
    signature_window_s: int = Field(default=300, ge=1, description="accepted age of signed timestamps")

    @field_validator(
        "mta_secrets",
        "widget_secrets",
        "meta_app_secrets",
        "shopify_secrets",
        "telegram_secrets",
        "vk_secrets",
        "mailgun_secrets",
        "sendgrid_secrets",
        "square_secrets",
        "twilio_secrets",
        "till_secrets",
        "generic_secrets",
        mode="before",
    )
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value
