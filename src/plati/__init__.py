"""Plati: the self-hosted assistant platform.

``plati.app.create_app(settings)`` builds the HTTP API; ``plati`` (the CLI) serves and drives it.
"""

__version__ = "0.1.0"
