"""Database tables of the generation app."""

from __future__ import annotations

from django.db import models


class RateBucket(models.Model):
    """One shared token bucket of the rate limiter (one row per budget: "rpm", "tpm")."""

    name = models.CharField(max_length=64, primary_key=True)
    # May go negative for the token budget: usage is charged after the call.
    tokens = models.FloatField()
    # Seconds since the epoch of the last refill.
    updated_at = models.FloatField()
    # Seconds since the epoch before which no request may start (a provider's Retry-After).
    hold_until = models.FloatField(default=0.0)

    def __str__(self) -> str:
        return f"{self.name}: {self.tokens:.2f} tokens"
