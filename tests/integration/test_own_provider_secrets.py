"""A business connects its own Telegram bot and Shopify store: the secrets it exported (or wrote in
``hub.toml``) are the ones the ingress verifies with, along the path ``hub up`` takes, so a delivery the
provider signs with them is accepted; one signed with the secret the local stack generated is not.
``hub status`` says where each secret came from, never the secret itself."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hub import deployment
from hub.local_secrets import LocalSecrets, load_or_create
from hub.secret_sources import local_secrets
from hub.stack import Infra
from hub.stack.paths import repo_root
from plumbing.settings import Topics
from services.ingress.settings import IngressSettings
from tests.support.signed_webhooks import PUBLIC_BASE, carriers, running_ingress

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

OWN_TELEGRAM = "my-bots-secret-token_1"
OWN_SHOPIFY = "shpss_the-stores-own-signing-secret"


@pytest.fixture
def own_configuration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A person who exported their bot's secret token and put their store's secret in hub.toml."""
    for variable in LocalSecrets.generate().env():
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("HUB_TELEGRAM_SECRETS", OWN_TELEGRAM)
    config = tmp_path / "hub.toml"
    config.write_text(f'shopify_secrets = "{OWN_SHOPIFY}"\n', encoding="utf-8")
    config.chmod(0o600)
    monkeypatch.setenv("HUB_CONFIG_FILE", str(config))
    return tmp_path / "state"


async def test_deliveries_signed_with_the_businesss_own_secrets_are_accepted_and_generated_ones_refused(
    infra: Infra, own_configuration: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    resolved = local_secrets(own_configuration)  # what `hub up` resolves
    env = deployment.service_env(infra, resolved, deployment.Ports(), tmp_path / "blobs")
    generated = load_or_create(own_configuration)

    def as_the_deployable_reads_them(
        _: LocalSecrets, bootstrap: str, topics: Topics, blobs: Path
    ) -> IngressSettings:
        """The ingress's secrets from the variables `hub up` starts it with, as ``python -m
        services.ingress`` reads them; only Kafka, topics and blobs are this test's own."""
        for variable in resolved.env():
            monkeypatch.setenv(variable, env[variable])
        return IngressSettings(
            kafka_bootstrap=bootstrap, topics=topics, blob_dir=blobs, public_base_url=PUBLIC_BASE
        )

    async with running_ingress(
        infra.kafka_bootstrap, tmp_path / "blobs", resolved.for_signing(), as_the_deployable_reads_them
    ) as ingress:
        telegram, shopify = ingress.carriers["telegram"], ingress.carriers["shopify"]
        own_bot = await ingress.send(telegram.sample())
        own_store = await ingress.send(shopify.sample())
        with_generated = carriers(generated)
        generated_bot = await ingress.send(with_generated["telegram"].sample())
        generated_store = await ingress.send(with_generated["shopify"].sample())
        published = await ingress.published()

    assert (own_bot.status_code, own_store.status_code) == (200, 200), (own_bot.text, own_store.text)
    assert (generated_bot.status_code, generated_store.status_code) == (401, 401)
    assert published == 2


def test_hub_status_says_where_each_secret_came_from_and_prints_the_urls_but_no_secret(
    own_configuration: Path, tmp_path: Path
) -> None:
    env = os.environ | {"HUB_STATE_DIR": str(own_configuration), "HUB_API_HOST": "0.0.0.0"}
    env.pop("HUB_PG_DSN", None)

    done = subprocess.run(  # the command a person runs: ./run status
        [str(Path(sys.executable).with_name("hub")), "status"],
        env=env,
        cwd=repo_root(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done.stderr[-2000:]
    lines = {line.split()[0]: line.split()[1:] for line in done.stdout.splitlines() if line.strip()}
    assert lines["HUB_TELEGRAM_SECRETS"] == ["environment"]
    assert lines["HUB_SHOPIFY_SECRETS"] == ["hub.toml"]
    assert lines["HUB_MTA_SECRETS"] == ["generated"]
    assert "read API:    http://127.0.0.1:8080" in done.stdout
    assert "webhooks:    http://127.0.0.1:8081" in done.stdout
    assert OWN_TELEGRAM not in done.stdout + done.stderr and OWN_SHOPIFY not in done.stdout + done.stderr
