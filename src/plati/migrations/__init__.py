"""Alembic migrations of the platform's database, applied by ``plati.store.db.run_migrations``."""
