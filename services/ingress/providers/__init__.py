"""Providers with a module of their own: each exports ``ENDPOINTS`` (see ``services.ingress.endpoints``)."""

# ``endpoints`` imports the provider modules at its end, and they import ``Endpoint`` from it: loading
# it first, whichever module is imported first, keeps that cycle in the one order that works.
import services.ingress.endpoints  # noqa: F401
