"""The one Meta webhook endpoint (``/webhooks/social/meta``): dispatch on the body's ``object``.

One Meta app may subscribe WhatsApp, Messenger and Instagram to the same callback URL, all signed
with the app secret; the ``object`` field says which product a delivery is from. ``page`` and
``instagram`` deliveries carry messages (``messaging``, echoes of ours included) and subscribed
fields (``changes``: Instagram comments, Page feed comments); both go to
:mod:`~services.ingress.translate.meta_messaging`, which reads each entry's two arrays in order.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from contracts import SocialMessageReceived
from services.ingress.errors import UnsupportedEventType
from services.ingress.translate import meta_messaging, meta_whatsapp
from services.ingress.translate._common import load_json

WHATSAPP_OBJECT = "whatsapp_business_account"


def translate(
    raw: bytes, *, received_at: datetime, correlation_id: str, default_region: str
) -> Sequence[SocialMessageReceived]:
    """WhatsApp Cloud API, Messenger or Instagram, by ``object``; 422 for any other Meta object."""
    kind = load_json(raw).required("object").text()
    if kind == WHATSAPP_OBJECT:
        translator = meta_whatsapp.translate
    elif kind in meta_messaging.PLATFORMS:
        translator = meta_messaging.translate
    else:
        raise UnsupportedEventType("field object is not whatsapp_business_account, page or instagram")
    return translator(
        raw, received_at=received_at, correlation_id=correlation_id, default_region=default_region
    )
