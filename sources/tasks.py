"""django-q2 entry points of the sources app: thin callers of the services."""

from __future__ import annotations

from sources import services


def extract_source(source_id: str) -> str:
    """Extract one uploaded source into passages (a no-op unless it wins the lease)."""
    return services.extract_source(source_id)
