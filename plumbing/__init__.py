"""Shared plumbing of every deployable: settings, logging, Kafka factory, event store, migrations.

Deployables share only this package and ``contracts``; they never import each other.
"""
