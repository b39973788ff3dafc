"""Webhook signature checks: HMAC-SHA256 over the raw body, hex (Meta, ours) and base64 (Shopify)."""

from __future__ import annotations

import base64

import pytest
from pydantic import SecretStr

from services.ingress.errors import InvalidSignature
from services.ingress.verify import sign_base64, sign_hex, verify_base64_signature, verify_hex_signature

pytestmark = pytest.mark.unit

BODY = b'{"object":"whatsapp_business_account","entry":[]}'
CURRENT = SecretStr("current-app-secret")
PREVIOUS = SecretStr("previous-app-secret")
SECRETS = [CURRENT, PREVIOUS]

# RFC 4231, test case 2: HMAC-SHA256 with key "Jefe".
RFC4231_DATA = b"what do ya want for nothing?"
RFC4231_HEX = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"


def test_signing_helpers_match_the_rfc_4231_test_vector() -> None:
    assert sign_hex(RFC4231_DATA, SecretStr("Jefe")) == "sha256=" + RFC4231_HEX
    assert sign_base64(RFC4231_DATA, "Jefe") == base64.b64encode(bytes.fromhex(RFC4231_HEX)).decode()


# --- hex, Meta style: "sha256=<hex>" ---------------------------------------------------------------


def test_hex_signature_made_with_the_current_secret_is_accepted() -> None:
    verify_hex_signature(BODY, sign_hex(BODY, CURRENT), SECRETS)


def test_hex_signature_made_with_the_previous_secret_is_accepted_during_rotation() -> None:
    verify_hex_signature(BODY, sign_hex(BODY, PREVIOUS), SECRETS)


def test_hex_signature_in_upper_case_hex_is_accepted() -> None:
    header = sign_hex(BODY, CURRENT)
    verify_hex_signature(BODY, "sha256=" + header.removeprefix("sha256=").upper(), SECRETS)


def test_hex_signature_made_with_an_unknown_secret_is_a_mismatch() -> None:
    with pytest.raises(InvalidSignature, match=r"^signature mismatch$"):
        verify_hex_signature(BODY, sign_hex(BODY, "someone-else"), SECRETS)


def test_hex_signature_of_a_tampered_body_is_a_mismatch() -> None:
    with pytest.raises(InvalidSignature, match="mismatch"):
        verify_hex_signature(BODY + b" ", sign_hex(BODY, CURRENT), SECRETS)


def test_hex_signature_retired_secret_is_refused_once_rotation_ends() -> None:
    with pytest.raises(InvalidSignature, match="mismatch"):
        verify_hex_signature(BODY, sign_hex(BODY, PREVIOUS), [CURRENT])


@pytest.mark.parametrize("header", [None, "", "   "])
def test_hex_signature_header_that_is_missing_is_refused(header: str | None) -> None:
    with pytest.raises(InvalidSignature, match="missing"):
        verify_hex_signature(BODY, header, SECRETS)


@pytest.mark.parametrize(
    "header",
    [
        RFC4231_HEX,  # no scheme prefix
        "sha1=" + RFC4231_HEX,
        "sha256=not-hex-at-all",
        "sha256=" + RFC4231_HEX[:-2],  # one byte short
        "sha256=",
    ],
)
def test_hex_signature_header_that_is_malformed_is_refused(header: str) -> None:
    with pytest.raises(InvalidSignature, match="malformed"):
        verify_hex_signature(BODY, header, SECRETS)


def test_hex_signature_with_a_custom_prefix_is_checked_after_the_prefix() -> None:
    header = "v1=" + sign_hex(BODY, CURRENT).removeprefix("sha256=")
    verify_hex_signature(BODY, header, SECRETS, prefix="v1=")


def test_mismatch_reason_is_the_same_whichever_secret_came_closest() -> None:
    reasons = []
    for wrong in ("current-app-secreT", "previous-app-secreT"):
        with pytest.raises(InvalidSignature) as caught:
            verify_hex_signature(BODY, sign_hex(BODY, wrong), SECRETS)
        reasons.append(str(caught.value))
    assert reasons[0] == reasons[1] == "signature mismatch"
    assert all("secret" not in reason for reason in reasons)


def test_verifying_without_any_configured_secret_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="secret"):
        verify_hex_signature(BODY, sign_hex(BODY, CURRENT), [])


# --- base64, Shopify style ---------------------------------------------------------------------


def test_base64_signature_made_with_the_current_secret_is_accepted() -> None:
    verify_base64_signature(BODY, sign_base64(BODY, CURRENT), SECRETS)


def test_base64_signature_made_with_the_previous_secret_is_accepted_during_rotation() -> None:
    verify_base64_signature(BODY, sign_base64(BODY, PREVIOUS), SECRETS)


def test_base64_signature_made_with_an_unknown_secret_is_a_mismatch() -> None:
    with pytest.raises(InvalidSignature, match=r"^signature mismatch$"):
        verify_base64_signature(BODY, sign_base64(BODY, "someone-else"), SECRETS)


def test_base64_signature_of_a_tampered_body_is_a_mismatch() -> None:
    with pytest.raises(InvalidSignature, match="mismatch"):
        verify_base64_signature(BODY.replace(b"[]", b"[{}]"), sign_base64(BODY, CURRENT), SECRETS)


@pytest.mark.parametrize("header", [None, ""])
def test_base64_signature_header_that_is_missing_is_refused(header: str | None) -> None:
    with pytest.raises(InvalidSignature, match="missing"):
        verify_base64_signature(BODY, header, SECRETS)


@pytest.mark.parametrize(
    "header",
    [
        "not base64!",
        sign_hex(BODY, CURRENT),  # the hex scheme sent to the base64 endpoint
        base64.b64encode(b"too short").decode(),
    ],
)
def test_base64_signature_header_that_is_malformed_is_refused(header: str) -> None:
    with pytest.raises(InvalidSignature, match="malformed"):
        verify_base64_signature(BODY, header, SECRETS)
