"""Settings of the ingress: per-channel secrets (current and previous, for rotation), limits."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from plumbing.blobs import BlobSettings

Secrets = Annotated[list[SecretStr], NoDecode]
VK_ANY_GROUP = "*"
"""Key of ``vk_confirmation`` when one string answers every community."""


class IngressSettings(BlobSettings):
    """A channel whose secret list is empty is disabled (its endpoint answers 404).

    Secret lists are comma-separated, newest first: ``HUB_SHOPIFY_SECRETS=new,old`` during rotation.
    """

    ingress_host: str = "127.0.0.1"
    ingress_port: int = Field(default=8081, ge=1, le=65535)
    ingress_workers: int = Field(
        default=1, ge=1, le=32, description="processes serving the port (uvicorn workers); about one per core"
    )
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    publish_timeout_s: float = Field(default=5.0, gt=0, description="then 503, so the provider retries")
    kafka_linger_ms: int = Field(
        default=5, ge=0, le=100, description="how long a record waits for others to share its produce request"
    )
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
    vk_confirmation: Annotated[dict[str, SecretStr], NoDecode] = Field(
        default_factory=dict,
        description="string answered to `confirmation`: one for every community, or `group_id:string` pairs",
    )
    mailgun_secrets: Secrets = Field(default_factory=list, description="webhook signing keys")
    sendgrid_secrets: Secrets = Field(default_factory=list, description="basic-auth password or bearer token")
    square_secrets: Secrets = Field(default_factory=list, description="subscription signature keys")
    twilio_secrets: Secrets = Field(default_factory=list, description="account auth tokens")
    till_secrets: Secrets = Field(default_factory=list, description="our tills' receipt signing secrets")
    generic_secrets: Secrets = Field(default_factory=list, description="Standard Webhooks whsec_ secrets")
    business_email_domains: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="our own mail domains: mail from them is outbound"
    )
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
        "business_email_domains",
        mode="before",
    )
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("vk_confirmation", mode="before")
    @classmethod
    def _vk_confirmations(cls, value: Any) -> Any:
        """``abc123`` (every community; key ``*``) or ``12345:abc123,67890:def456`` (per ``group_id``).

        Our messages name the shape, never a value: these strings are secrets.
        """
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if value is None:
            return {}
        if not isinstance(value, str):
            return value
        parts = [part.strip() for part in value.split(",") if part.strip()]
        if len(parts) == 1 and ":" not in parts[0]:  # VK's strings are hexadecimal: no colon
            return {VK_ANY_GROUP: parts[0]}
        pairs = [part.partition(":") for part in parts]
        if not all(group.isascii() and group.isdigit() and code for group, _, code in pairs):
            raise ValueError("must be one string, or group_id:string pairs separated by commas")
        if len({int(group) for group, _, _ in pairs}) != len(pairs):
            raise ValueError("names a group_id twice")
        return {str(int(group)): code for group, _, code in pairs}
