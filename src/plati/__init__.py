"""Plati: the self-hosted assistant platform (the service arrives with the platform issues)."""
