"""The timeline relay: every event appended to the store, published to the timeline topic for other teams.

A transactional-outbox relay driven by the store's global log (see :mod:`services.relay.relay`).
"""
