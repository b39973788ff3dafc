"""Where each channel's webhook secret (and the listening addresses) come from: what a person configured
always wins over what the local stack generated.

Order, per setting: a ``HUB_*`` environment variable, then ``hub.toml`` (``HUB_CONFIG_FILE``, else the
checkout's own, if present), then, for webhook secrets only, the random value the local stack keeps in
``.state/webhook-secrets.json``. A generated secret serves a channel nobody configured, so the demo and the
tests work out of the box; it never replaces a real provider's secret (that would answer every real
delivery 401).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from hub.local_secrets import SECRET_VARIABLES, LocalSecrets, load_or_create

CONFIG_FILE_VARIABLE = "HUB_CONFIG_FILE"
CONFIG_FILE_NAME = "hub.toml"

#: Settings that hold one value, not a comma-separated list of secrets newest first.
SINGLE_VALUED = frozenset({"meta_verify_token", "vk_confirmation"})


class SecretSource(StrEnum):
    ENVIRONMENT = "environment"
    CONFIG_FILE = CONFIG_FILE_NAME
    GENERATED = "generated"


class ConfigFileError(ValueError):
    """``hub.toml`` is missing (when named), unreadable or holds an unknown or malformed setting."""


def config_file_path(environ: Mapping[str, str] | None = None) -> Path | None:
    """``HUB_CONFIG_FILE`` (it must exist), else ``hub.toml`` in the checkout if there is one."""
    environ = os.environ if environ is None else environ
    named = environ.get(CONFIG_FILE_VARIABLE)
    if named:
        path = Path(named).expanduser()
        if not path.is_file():
            raise ConfigFileError(f"{CONFIG_FILE_VARIABLE}={named}: no such file")
        return path
    from hub.stack.paths import repo_root

    default = repo_root() / CONFIG_FILE_NAME
    return default if default.is_file() else None


SecretValue = SecretStr | list[SecretStr]
"""One secret, or several newest first (rotation): ``telegram_secrets = ["new", "old"]``."""


class HubFile(BaseSettings):
    """What ``hub.toml`` may set: the names are the ``HUB_*`` variables' without the prefix, in lower case.

    Unknown names are refused (a typo would otherwise leave a channel on a generated secret), and values
    never appear in errors.
    """

    model_config = SettingsConfigDict(extra="forbid", hide_input_in_errors=True)

    mta_secrets: SecretValue | None = None
    widget_secrets: SecretValue | None = None
    meta_app_secrets: SecretValue | None = None
    meta_verify_token: SecretStr | None = None
    shopify_secrets: SecretValue | None = None
    telegram_secrets: SecretValue | None = None
    vk_secrets: SecretValue | None = None
    vk_confirmation: SecretStr | None = Field(default=None, description="one string, or group_id:string,...")
    mailgun_secrets: SecretValue | None = None
    sendgrid_secrets: SecretValue | None = None
    square_secrets: SecretValue | None = None
    twilio_secrets: SecretValue | None = None
    till_secrets: SecretValue | None = None
    generic_secrets: SecretValue | None = None
    ingress_host: str | None = None
    ingress_port: int | None = Field(default=None, ge=1, le=65535)
    api_host: str | None = None
    api_port: int | None = Field(default=None, ge=1, le=65535)
    public_base_url: str | None = None

    @field_validator("*", mode="after")
    @classmethod
    def _no_comma_in_a_listed_secret(cls, value: object) -> object:
        """The ingress reads a list as comma-separated values: a comma inside one would split it."""
        if isinstance(value, list) and any("," in item.get_secret_value() for item in value):
            raise ValueError("a secret of a list cannot contain a comma")
        return value

    @field_validator("ingress_host", "api_host", "public_base_url")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be empty")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file only: the environment is read separately, so each value's source can be told apart.
        return init_settings, TomlConfigSettingsSource(settings_cls, toml_file=config_file_path())

    def value_of(self, setting: str) -> str | None:
        """``setting`` as its ``HUB_*`` variable would carry it (lists comma-separated), None if unset."""
        value = getattr(self, setting)
        if value is None:
            return None
        if isinstance(value, list):
            return ",".join(item.get_secret_value() for item in value)
        if isinstance(value, SecretStr):
            return value.get_secret_value()
        return str(value)


def read_config_file() -> HubFile:
    """``hub.toml`` as configured (see :func:`config_file_path`); empty when there is none.

    A file that holds a secret must be private to its owner (as ssh treats a private key): one that group
    or others may read is refused, naming the fix, before any secret from it is used."""
    try:
        file = HubFile()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, error['loc'])) or 'file'}: {error['msg']}" for error in exc.errors()
        )
        raise ConfigFileError(f"{config_file_path()}: {problems}") from exc
    except OSError as exc:
        raise ConfigFileError(f"{config_file_path()}: {exc.strerror}") from exc
    except ValueError as exc:  # tomllib.TOMLDecodeError: the message gives line and column, not values
        raise ConfigFileError(f"{config_file_path()}: not valid TOML ({exc})") from exc
    _refuse_if_readable_by_others(file)
    return file


def _refuse_if_readable_by_others(file: HubFile) -> None:
    path = config_file_path()
    holds_secrets = any(isinstance(getattr(file, name), SecretStr | list) for name in HubFile.model_fields)
    if path is None or not holds_secrets:
        return
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise ConfigFileError(
            f"{path} holds secrets but group or others may read it (mode {mode:04o}): run chmod 600 {path}"
        )


@dataclass(frozen=True)
class ChannelSecret:
    """One webhook setting as the ingress will read it, and who chose it."""

    name: str  # the LocalSecrets field: "telegram", "meta_verify_token"...
    variable: str  # HUB_TELEGRAM_SECRETS
    source: SecretSource
    value: str = field(repr=False)  # comma-separated, newest first; empty disables the channel

    @property
    def enabled(self) -> bool:
        return bool(self.value.replace(",", "").strip())

    @property
    def newest(self) -> str:
        """The value a sender signs with now: the first of a rotation list."""
        if self.name in SINGLE_VALUED:
            return self.value
        return next((part.strip() for part in self.value.split(",") if part.strip()), "")


@dataclass(frozen=True)
class ResolvedSecrets:
    """Every channel's secret after the person's configuration was laid over the generated ones."""

    channels: tuple[ChannelSecret, ...]

    def env(self) -> dict[str, str]:
        """The variables the ingress reads them from."""
        return {channel.variable: channel.value for channel in self.channels}

    def sources(self) -> dict[str, SecretSource]:
        """Channel -> where its secret came from; never the secret."""
        return {channel.name: channel.source for channel in self.channels}

    def source_of(self, name: str) -> SecretSource:
        return self.sources()[name]

    def for_signing(self) -> LocalSecrets:
        """What a sender (the demo) signs with: each channel's newest secret."""
        return LocalSecrets(**{channel.name: channel.newest for channel in self.channels})


def resolve_secrets(generated: LocalSecrets, environ: Mapping[str, str], file: HubFile) -> ResolvedSecrets:
    """Environment, else ``hub.toml``, else ``generated``; a variable set to nothing disables its channel
    rather than falling back (the person said so)."""
    channels = []
    for name, variable in SECRET_VARIABLES.items():
        setting = variable.removeprefix("HUB_").lower()
        from_file = file.value_of(setting)
        if variable in environ:
            channels.append(ChannelSecret(name, variable, SecretSource.ENVIRONMENT, environ[variable]))
        elif from_file is not None:
            channels.append(ChannelSecret(name, variable, SecretSource.CONFIG_FILE, from_file))
        else:
            channels.append(ChannelSecret(name, variable, SecretSource.GENERATED, getattr(generated, name)))
    return ResolvedSecrets(tuple(channels))


def local_secrets(state_dir: Path, file: HubFile | None = None) -> ResolvedSecrets:
    """What ``hub up`` hands the ingress: this process's environment, ``hub.toml`` (``file``, else read),
    then the secrets generated in ``state_dir`` (made on first use)."""
    file = read_config_file() if file is None else file
    return resolve_secrets(load_or_create(state_dir), os.environ, file)


def configured_sources(file: HubFile, environ: Mapping[str, str] | None = None) -> dict[str, SecretSource]:
    """Where each channel's secret would come from now, without reading or making a secret."""
    nothing = LocalSecrets(**dict.fromkeys(SECRET_VARIABLES, ""))
    return resolve_secrets(nothing, os.environ if environ is None else environ, file).sources()


def setting(name: str, file: HubFile, environ: Mapping[str, str] | None = None) -> str | None:
    """A non-secret setting (``ingress_host``, ``api_port``...): its ``HUB_*`` variable, else ``hub.toml``."""
    environ = os.environ if environ is None else environ
    variable = f"HUB_{name.upper()}"
    return environ[variable] if variable in environ else file.value_of(name)
