"""All sales routes of the read API, built from one load of the sales configuration.

The app includes this one router; a bad pipelines or staff file stops the app from being built.
"""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter

from plumbing.access.fastapi import guarded_router
from services.api import deals, sales_reads, tasks
from services.api.sales_commands import MIGRATIONS as MIGRATIONS
from services.api.sales_config import load_rules
from services.api.settings import ApiSettings


def router(settings: ApiSettings) -> APIRouter:
    ttl = timedelta(seconds=settings.idempotency_key_ttl_s)
    rules = load_rules(settings.pipelines_file, settings.staff_file, ttl)
    routes = guarded_router()
    routes.include_router(deals.router(rules))
    routes.include_router(sales_reads.router(rules))
    routes.include_router(tasks.router(rules))
    return routes
