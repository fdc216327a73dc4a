"""Alembic migrations for the ordertrail schema."""
