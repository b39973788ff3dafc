"""Providers with a module of their own: each exports ``ENDPOINTS`` (see ``services.ingress.endpoints``)."""
