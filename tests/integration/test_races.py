"""Concurrent callers on PostgreSQL: every race resolves in the database to one outcome."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable

import pytest
from django.db import connection, transaction

from batches import dispatch, services
from batches.errors import InvalidBatchStatusTransitionError, QuotaExceededError
from batches.models import BatchEvent, BatchItem, BatchJob
from batches.states import Action, BatchStatus, ItemStatus
from tests.factories import FacultyFactory, batch_definition

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def no_queue(monkeypatch) -> None:
    monkeypatch.setattr(dispatch, "enqueue_items", lambda ids: None)


def race(n: int, work: Callable[[int], object]) -> list[object]:
    """Run work(i) for i < n on n threads released together; return results or exceptions."""
    barrier = threading.Barrier(n)
    results: list[object] = [None] * n

    def runner(i: int) -> None:
        try:
            barrier.wait()
            results[i] = work(i)
        except Exception as exc:
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=runner, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def new_batch(**overrides) -> BatchJob:
    batch, _ = services.create_batch(
        owner=FacultyFactory(), definition=batch_definition(**overrides)
    )
    return batch


def test_fifty_concurrent_controls_end_in_one_consistent_state():
    batch = new_batch(target_count=20, concurrency_limit=5)
    rng = random.Random(7)
    actions = [rng.choice([Action.PAUSE, Action.RESUME, Action.CANCEL]) for _ in range(50)]
    results = race(50, lambda i: services.apply_action(actions[i], batch=batch.pk))

    won = [r for r in results if isinstance(r, services.TransitionResult)]
    lost = [r for r in results if isinstance(r, InvalidBatchStatusTransitionError)]
    assert len(won) + len(lost) == 50, [r for r in results if r not in won and r not in lost]
    batch.refresh_from_db()
    control_events = BatchEvent.objects.filter(
        batch=batch,
        name__in=[
            "generation/batch.paused",
            "generation/batch.resumed",
            "generation/batch.cancelled",
        ],
    )
    # Every winner left exactly one event; no loser left any.
    assert control_events.count() == len(won)
    cancels = [r for r in won if r.action == "cancel"]
    assert len(cancels) <= 1
    if cancels:
        assert batch.status == BatchStatus.CANCELLED
        assert not batch.items.filter(status__in=["pending", "queued"]).exists()
    # The winners form a chain in commit order (event ids are taken under the batch row
    # lock): each started from the status the previous one left.
    new_status = {
        "generation/batch.paused": "paused",
        "generation/batch.resumed": "running",
        "generation/batch.cancelled": "cancelled",
    }
    status = BatchStatus.RUNNING
    for event in control_events.order_by("id"):
        assert event.payload["previousStatus"] == status
        status = new_status[event.name]
    assert batch.status == status
    in_progress = batch.items.filter(status__in=["queued", "running", "retry_wait"]).count()
    assert in_progress <= batch.concurrency_limit


def test_two_workers_claiming_one_item_get_one_claim():
    batch = new_batch(target_count=1)
    item = batch.items.get()
    results = race(8, lambda i: dispatch.claim_item(item.pk))
    claims = [r for r in results if isinstance(r, dispatch.Claim)]
    assert len(claims) == 1, results
    assert results.count(None) == 7
    item.refresh_from_db()
    assert (item.status, item.attempts, item.lease_token) == ("running", 1, claims[0].token)


def test_concurrent_refills_never_exceed_the_limit():
    batch = new_batch(target_count=30, concurrency_limit=3)
    BatchItem.objects.filter(batch=batch, status=ItemStatus.QUEUED).update(
        status=ItemStatus.COMPLETED
    )
    results = race(10, lambda i: dispatch.fill_slots(batch.pk))
    handed_out = [item_id for r in results for item_id in r]
    assert len(handed_out) == 3
    assert batch.items.filter(status=ItemStatus.QUEUED).count() == 3


def test_racing_finishers_record_one_completion():
    batch = new_batch(target_count=5)
    BatchItem.objects.filter(batch=batch).update(status=ItemStatus.COMPLETED)
    results = race(10, lambda i: services.finish_batch(batch.pk))
    assert Counter(results) == Counter({None: 9, "completed": 1})
    assert BatchEvent.objects.filter(batch=batch, name=BatchEvent.COMPLETED).count() == 1


def test_no_item_is_claimed_after_pause_returns():
    batch = new_batch(target_count=40, concurrency_limit=20)
    BatchItem.objects.filter(batch=batch).update(status=ItemStatus.QUEUED)
    items = list(batch.items.order_by("index").values_list("id", flat=True))
    paused_at: list[float] = []
    attempts: list[tuple[float, bool]] = []

    def work(i: int) -> None:
        if i == 0:
            services.pause_batch(batch=batch.pk)
            paused_at.append(time.monotonic())
            return
        mine = items[i - 1 :: 4]
        # Keep trying this thread's items until the pause has returned, then once more,
        # so attempts straddle the pause whichever thread the scheduler favours.
        while True:
            done = bool(paused_at)
            for item_id in mine:
                started = time.monotonic()
                attempts.append((started, dispatch.claim_item(item_id) is not None))
            if done:
                return

    results = race(5, work)
    assert not [r for r in results if isinstance(r, Exception)]
    assert any(started > paused_at[0] for started, _ in attempts)
    late_claims = [ok for started, ok in attempts if started > paused_at[0] and ok]
    assert late_claims == []
    assert BatchJob.objects.get(pk=batch.pk).status == BatchStatus.PAUSED


def test_concurrent_creates_cannot_both_pass_the_active_item_cap(settings):
    """Issue 15: the quota is decided under the owner's row lock, not on a stale count."""
    settings.USER_MAX_ACTIVE_ITEMS = 10
    owner = FacultyFactory()

    def create(i: int) -> BatchJob:
        return services.create_batch(owner=owner, definition=batch_definition(target_count=6))[0]

    results = race(8, create)
    created = [r for r in results if isinstance(r, BatchJob)]
    refused = [r for r in results if isinstance(r, QuotaExceededError)]
    assert (len(created), len(refused)) == (1, 7), results
    assert BatchItem.objects.filter(batch__owner=owner).count() == 6


def test_a_claim_holding_queued_items_as_a_pause_begins_starts_them_before_the_pause_time():
    """docs/rules.md rule 5 at its sharpest: a worker's claim has locked queued items (it saw the
    batch running) when a pause commits its transition. The pause's release of queued items
    waits for that claim, so the time the pause reports must follow those items' start."""
    batch = new_batch(target_count=6, concurrency_limit=3)
    queued = set(batch.items.filter(status=ItemStatus.QUEUED).values_list("id", flat=True))
    assert len(queued) == 3
    locked, release = threading.Event(), threading.Event()

    def claim_and_hold() -> list[dispatch.Claim]:
        # The claim is one statement: in a transaction of the test's, the rows it locked stay
        # locked until the test lets the claimer commit.
        with transaction.atomic():
            claims = dispatch.claim_queued(10)
            locked.set()
            release.wait(30)
        return claims

    outcome: dict[str, object] = {}

    def in_thread(name: str, work: Callable[[], object]) -> threading.Thread:
        def run() -> None:
            try:
                outcome[name] = work()
            except Exception as exc:
                outcome[name] = exc
            finally:
                connection.close()

        thread = threading.Thread(target=run, name=name)
        thread.start()
        return thread

    claimer = in_thread("claimer", claim_and_hold)
    assert locked.wait(30), "the claim never locked its rows"
    pauser = in_thread("pauser", lambda: services.pause_batch(batch=batch.pk))
    deadline = time.monotonic() + 30
    # The pause has made its transition (not yet committed) and waits on the claim's rows.
    while not _a_lock_is_awaited():
        assert time.monotonic() < deadline, "the pause never waited for the claim"
        time.sleep(0.01)
    release.set()
    claimer.join(30)
    pauser.join(30)

    claims, paused = outcome["claimer"], outcome["pauser"]
    assert {claim.item_id for claim in claims} == queued, outcome
    started = batch.items.filter(pk__in=queued).values_list("started_at", flat=True)
    assert max(started) <= paused.timestamp
    # The claimed items run on; none is left queued behind the pause.
    assert BatchJob.objects.get(pk=batch.pk).status == BatchStatus.PAUSED
    assert not batch.items.filter(status=ItemStatus.QUEUED).exists()
    assert batch.items.filter(status=ItemStatus.RUNNING).count() == 3


def _a_lock_is_awaited() -> bool:
    """Return whether a session of this test's database waits for a lock (the pause)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0
