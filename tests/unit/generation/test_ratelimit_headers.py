"""A provider's rate-limit headers tighten the shared buckets; a reservation rides the request."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage

from generation import pipeline, ratelimit
from generation.ratelimit import SharedRateLimiter, remaining_from_headers
from tests.aio import run_coroutine
from tests.fakes import question_args, scripted

START = 1_000_000.0


class FakeClock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_headers_of_openai_and_anthropic_are_read_and_junk_is_ignored():
    assert remaining_from_headers(
        {"X-RateLimit-Remaining-Requests": "59", "x-ratelimit-remaining-tokens": "149984"}
    ) == (59, 149984)
    assert remaining_from_headers(
        {"anthropic-ratelimit-requests-remaining": "3", "anthropic-ratelimit-tokens-remaining": "0"}
    ) == (3, 0)
    assert remaining_from_headers({"x-ratelimit-remaining-tokens": "lots"}) == (None, None)
    assert remaining_from_headers({}) == (None, None)


@pytest.mark.django_db
def test_tighten_lowers_the_buckets_and_never_raises_them():
    clock = FakeClock()
    limiter = SharedRateLimiter(600, 20_000, clock=clock, sleep=clock.sleep)
    limiter.tighten(requests_left=1, tokens_left=None)
    assert limiter.acquire(blocking=False)
    assert not limiter.acquire(blocking=False)  # the provider said one request was left
    limiter.tighten(requests_left=500, tokens_left=None)
    assert not limiter.acquire(blocking=False)  # more left at the provider is not more here

    limiter.tighten(requests_left=None, tokens_left=0)
    clock.now += 60  # the request bucket refills; the token bucket refilled from zero too
    with ratelimit.reserving(1000) as reservation:
        assert limiter.acquire(blocking=False)
    assert reservation.taken == 1000


@pytest.mark.django_db
def test_a_reservation_waits_for_room_and_takes_nothing_until_it_has_it():
    clock = FakeClock()
    # Burst 1000 tokens, refilled at 19,000 / 61 per second.
    limiter = SharedRateLimiter(0, 20_000, clock=clock, sleep=clock.sleep)
    with ratelimit.reserving(800) as first:
        assert limiter.try_acquire() == 0.0
    with ratelimit.reserving(800) as second:
        wait = limiter.try_acquire()
    assert first.taken == 800 and second.taken == 0
    assert wait == pytest.approx(600 * 61 / 19_000, abs=0.01)
    limiter.settle(first.taken, 200)  # 600 back: the second call fits now
    with ratelimit.reserving(800) as third:
        assert limiter.try_acquire() == 0.0
    assert third.taken == 800


def test_the_pipeline_tightens_the_shared_buckets_from_an_answers_headers(ratelimit):
    tightened: list[tuple] = []

    async def atighten(*, requests_left, tokens_left):
        tightened.append((requests_left, tokens_left))

    ratelimit.limiter.atighten = atighten
    answer = AIMessage(
        content="",
        tool_calls=[{"name": "Question", "args": question_args(), "id": "call_1"}],
        response_metadata={"headers": {"x-ratelimit-remaining-tokens": "42"}},
    )
    model = scripted(answer)
    run_coroutine(pipeline.generate(model, pipeline._request({"topic": "Renal physiology"}, {})))
    assert tightened == [(None, 42)]
