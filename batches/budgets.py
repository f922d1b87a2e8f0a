"""Monthly token budgets per institution (rules.md rule 12): what is spent, and stopping.

An institution's `monthly_token_budget` (0 = none) caps the tokens, input plus output, that
the calls of its batches may use in a calendar month (UTC), as the usage ledger records them.
Three places keep it:

- the fill (`batches.scheduler`) queues nothing for an institution whose budget is spent: it
  reads the month's spending under the institution's row lock, in the transaction that would
  queue, so a burst of fills cannot overspend by more than the calls already in flight;
- `services.advance_batch` pauses the institution's running batches once it is spent
  (event `generation/batch.paused`, `payload.reason` `budget_exhausted`): running items
  finish and keep their results, nothing is lost;
- create and resume refuse with `BudgetExhaustedError` (409 `BUDGET_EXHAUSTED`) until an
  operator raises the budget in the admin.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db.models import F, Sum
from django.utils import timezone

from batches.errors import BudgetExhaustedError
from batches.models import UsageRecord

REASON = "budget_exhausted"
# The page warns from this share of the budget on.
WARN_AT = 0.8


@dataclass(frozen=True)
class BudgetState:
    """An institution's budget this month: 0 means it has none."""

    institution: str
    budget: int
    used: int

    @property
    def limited(self) -> bool:
        return self.budget > 0

    @property
    def exhausted(self) -> bool:
        return self.limited and self.used >= self.budget

    @property
    def share(self) -> float | None:
        return self.used / self.budget if self.limited else None

    @property
    def warning(self) -> bool:
        return self.limited and not self.exhausted and self.used >= WARN_AT * self.budget

    @property
    def details(self) -> dict:
        return {"institution": self.institution, "budget": self.budget, "used": self.used}


def month_start(now: datetime | None = None) -> datetime:
    """Return the first instant of the current calendar month, UTC."""
    now = now or timezone.now()
    return now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def spent(institution_ids: Iterable[int]) -> dict[int, int]:
    """Return the tokens the institutions' batches used this month, by institution id."""
    ids = list(institution_ids)
    rows = (
        UsageRecord.objects.filter(batch__institution_id__in=ids, created_at__gte=month_start())
        .values("batch__institution_id")
        .annotate(tokens=Sum(F("input_tokens") + F("output_tokens")))
    )
    used = {row["batch__institution_id"]: int(row["tokens"] or 0) for row in rows}
    return {pk: used.get(pk, 0) for pk in ids}


def state_of(institution) -> BudgetState:
    """Return the institution's budget and what it spent this month."""
    budget = institution.monthly_token_budget or 0
    used = spent([institution.pk])[institution.pk] if budget > 0 else 0
    return BudgetState(institution=institution.slug, budget=budget, used=used)


def refuse_if_exhausted(institution) -> None:
    """Raise BudgetExhaustedError when the institution's budget for the month is spent."""
    state = state_of(institution)
    if state.exhausted:
        raise BudgetExhaustedError(**state.details)


def exhausted_among(budgets: dict[int, int]) -> set[int]:
    """Return which of {institution id: budget} have spent their budget (0 = none) this month."""
    limited = {pk: budget for pk, budget in budgets.items() if budget > 0}
    if not limited:
        return set()
    used = spent(limited)
    return {pk for pk, budget in limited.items() if used[pk] >= budget}
