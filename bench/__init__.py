"""Benchmarks that print figures; each run seals personal fields with a master key of its own, and derives
ids under an id key of its own (the hubs it starts inherit both).

The keys are made here without importing the hub (an early import would change how logging is set up).
"""

import base64
import os
import secrets

os.environ.setdefault("HUB_MASTER_KEY", base64.urlsafe_b64encode(secrets.token_bytes(32)).decode("ascii"))
os.environ.setdefault("HUB_ID_KEY", base64.urlsafe_b64encode(secrets.token_bytes(32)).decode("ascii"))
