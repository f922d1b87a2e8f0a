"""A token bucket shared by every worker process on every machine (rules.md rule 2).

The state lives in the database (`RateBucket` rows, the default) or in Redis when
`settings.REDIS_URL` is set. Each try refills the bucket by the elapsed time and either takes a
token or answers how long to wait, atomically, so processes need no other coordination.

Bucket shape, for a budget of `limit` requests per `period_s` (60 s) and `jitter_s` (1 s) of
network jitter between us and the provider:

    burst capacity  B    = max(1, limit // 20)
    refill rate     rate = (limit - B) / (period_s + jitter_s)   tokens per second

Starting full, the grants in any window of length T are at most B + rate * T, so any
61 s window of grants holds at most B + 61 * rate = limit. A request reaches the provider
0..1 s later than its grant (the jitter), so any 60 s window measured at the provider sees
grants from at most 61 s of ours: never more than `limit`. (B + 60 * rate < limit.)

Token reservations (TPM, rules.md rule 12): a call `reserve`s its estimated tokens
(prompt + output cap) before it is sent and `settle`s with the reported usage after. Tokens
are then counted when they are granted, not after the answer, so calls in flight cannot
overshoot. A token bucket admits a call of n tokens exactly only if its burst B holds n: a
grant of n > B, however late, lets a window see n + rate * T. So with `max_call_tokens` the
TPM bucket's burst is sized for the largest call (`Budget.for_calls`), and a reservation waits
until the bucket holds all of it; a call larger than the burst waits for a full bucket and
may overshoot by its excess once (never more: the bucket is then in debt). Settling gives back
what an over-estimate held (never above the burst) or charges what an under-estimate missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol

import redis
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection, transaction
from langchain_core.rate_limiters import BaseRateLimiter

from batches import outages

from .models import RateBucket

RPM_BUCKET = "rpm"
TPM_BUCKET = "tpm"
REDIS_KEY_PREFIX = "batchgen:ratelimit:"
# A provider asking for a longer pause is more likely a bug than a plan: re-ask after this.
MAX_HOLD_S = 300.0
# Longest sleep between tries: a hold may be extended or another machine may be faster.
MAX_SLEEP_S = 1.0
# Shortest wait answered, so float residue never turns into a busy loop.
MIN_WAIT_S = 0.001

WaitCallback = Callable[[], None]
_wait_callbacks: contextvars.ContextVar[tuple[WaitCallback, ...]] = contextvars.ContextVar(
    "ratelimit_wait_callbacks", default=()
)


@dataclass(frozen=True)
class Budget:
    """Shape of one token bucket: burst capacity and refill rate in tokens per second."""

    capacity: float
    rate: float

    @classmethod
    def for_limit(cls, limit: int, period_s: float, jitter_s: float) -> Budget:
        """Return the bucket that never grants more than `limit` per `period_s` (see module doc)."""
        burst = max(1, limit // 20)
        # limit == 1 is the one case where B == limit: refill one token per period + jitter,
        # so grants are at least 61 s apart here and at least 60 s apart at the provider.
        refill = max(limit - burst, 1)
        return cls(capacity=float(burst), rate=refill / (period_s + jitter_s))

    @classmethod
    def for_calls(cls, limit: int, period_s: float, jitter_s: float, max_call: int) -> Budget:
        """Return the token bucket whose burst holds one call of `max_call` tokens.

        The burst is capped at half the limit, so the bucket still refills at a useful rate;
        a call bigger than that is admitted on a full bucket (see the module doc).
        """
        burst = min(max(limit // 20, max_call, 1), max(limit // 2, 1))
        refill = max(limit - burst, 1)
        return cls(capacity=float(burst), rate=refill / (period_s + jitter_s))


class _Backend(Protocol):
    def try_acquire(self, rpm: Budget | None, tpm: Budget | None, tokens: int = 0) -> float: ...

    def hold(self, seconds: float) -> None: ...

    def charge(self, tpm: Budget, tokens: int) -> None: ...

    def reserve(self, tpm: Budget, tokens: int) -> float: ...

    def settle(self, tpm: Budget, tokens: int) -> None: ...

    def tighten(
        self, rpm: Budget | None, requests_left: int, tpm: Budget | None, tokens_left: int
    ) -> None: ...


class SharedRateLimiter(BaseRateLimiter):
    """Token bucket for model requests shared through the database or Redis."""

    def __init__(
        self,
        rpm: int,
        tpm: int | None = None,
        *,
        redis_url: str | None = None,
        period_s: float = 60.0,
        jitter_s: float = 1.0,
        heartbeat_s: float = 5.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        asleep: Callable[[float], Awaitable[None]] | None = None,
        max_call_tokens: int | None = None,
    ) -> None:
        # rpm <= 0 lifts the request budget; a provider's hold is still honoured.
        self.rpm = Budget.for_limit(rpm, period_s, jitter_s) if rpm > 0 else None
        self.tpm = Budget.for_limit(tpm, period_s, jitter_s) if tpm and tpm > 0 else None
        if self.tpm is not None and tpm and max_call_tokens:
            self.tpm = Budget.for_calls(tpm, period_s, jitter_s, max_call_tokens)
        self._clock = clock
        self._sleep = sleep
        self._asleep = asleep or (asyncio.sleep if sleep is time.sleep else _async_from(sleep))
        self._heartbeat_s = heartbeat_s
        backend = _RedisBackend(redis_url) if redis_url else _DatabaseBackend(clock)
        self._backend: _Backend = _OutageTolerant(
            backend, outages.REDIS if redis_url else outages.DATABASE
        )

    def try_acquire(self) -> float:
        """Take one request token now and return 0, or return the seconds to wait first.

        Inside `reserving(n)`, the call's `n` estimated tokens are taken from the token
        budget in the same atomic step: the request goes out only when both have room.
        """
        reservation = _reservation.get()
        tokens = reservation.tokens if reservation is not None and self.tpm is not None else 0
        wait = self._backend.try_acquire(self.rpm, self.tpm, tokens)
        if wait <= 0 and reservation is not None:
            reservation.taken = tokens
        return wait

    def acquire(self, *, blocking: bool = True) -> bool:
        """Take one request token, waiting for it unless `blocking` is false."""
        wait = self.try_acquire()
        if wait <= 0:
            return True
        if not blocking:
            return False
        last_beat = self._clock()
        while wait > 0:
            self._sleep(min(wait, MAX_SLEEP_S))
            if self._clock() - last_beat >= self._heartbeat_s:
                _run_wait_callbacks()
                last_beat = self._clock()
            wait = self.try_acquire()
        return True

    async def aacquire(self, *, blocking: bool = True) -> bool:
        """Take one request token, sleeping on the event loop (not a thread) while it waits."""
        # Each try is a short database or Redis round trip on the process's database thread;
        # the waits between tries are asyncio sleeps, so a worker's other slots (and a long
        # provider hold) never tie up a thread each.
        try_acquire = sync_to_async(self.try_acquire)
        wait = await try_acquire()
        if wait <= 0:
            return True
        if not blocking:
            return False
        last_beat = self._clock()
        while wait > 0:
            await self._asleep(min(wait, MAX_SLEEP_S))
            if self._clock() - last_beat >= self._heartbeat_s:
                await sync_to_async(_run_wait_callbacks)()
                last_beat = self._clock()
            wait = await try_acquire()
        return True

    async def ahold(self, seconds: float) -> None:
        """`hold`, from a coroutine."""
        await sync_to_async(self.hold)(seconds)

    def hold(self, seconds: float) -> None:
        """Make every worker wait `seconds` (capped at MAX_HOLD_S) before its next request."""
        if seconds > 0:
            self._backend.hold(min(seconds, MAX_HOLD_S))

    def charge(self, tokens: int) -> None:
        """Charge `tokens` used by a finished call to the token budget, if there is one."""
        if self.tpm is not None and tokens > 0:
            self._backend.charge(self.tpm, tokens)

    def reserve(self, tokens: int) -> float:
        """Take `tokens` from the token budget now and return 0, or return the seconds to wait.

        Call it just before sending, with the call's estimate (`generation.tokens`), and
        `settle` after. Without a token budget there is nothing to take: 0.
        """
        if self.tpm is None or tokens <= 0:
            return 0.0
        return self._backend.reserve(self.tpm, tokens)

    async def areserve(self, tokens: int) -> None:
        """Reserve `tokens`, sleeping on the event loop until the budget holds them."""
        # The database backend's tries are ORM calls: Django's one shared thread runs them.
        reserve = sync_to_async(self.reserve, thread_sensitive=True)
        while (wait := await reserve(tokens)) > 0:
            await self._asleep(min(wait, MAX_SLEEP_S))

    def tighten(self, *, requests_left: int | None, tokens_left: int | None) -> None:
        """Lower the shared buckets to what the provider says is left; never raise them.

        A provider that counts other clients of the same key (another app, a colleague's
        notebook) knows better than our bucket how much of its minute remains.
        """
        rpm = self.rpm if requests_left is not None else None
        tpm = self.tpm if tokens_left is not None else None
        if rpm is not None or tpm is not None:
            self._backend.tighten(rpm, max(requests_left or 0, 0), tpm, max(tokens_left or 0, 0))

    async def atighten(self, *, requests_left: int | None, tokens_left: int | None) -> None:
        """`tighten`, from a coroutine."""
        await sync_to_async(self.tighten)(requests_left=requests_left, tokens_left=tokens_left)

    async def asettle(self, reserved: int, actual: int) -> None:
        """`settle`, from a coroutine."""
        await sync_to_async(self.settle)(reserved, actual)

    def settle(self, reserved: int, actual: int) -> None:
        """Give back what a reservation held beyond the call's `actual` tokens, or charge more."""
        if self.tpm is not None and actual != reserved:
            self._backend.settle(self.tpm, actual - reserved)


@dataclass
class Reservation:
    """A call's estimated tokens, and how many of them its request token took (settle those)."""

    tokens: int
    taken: int = 0


_reservation: contextvars.ContextVar[Reservation | None] = contextvars.ContextVar(
    "ratelimit_reservation", default=None
)


@contextlib.contextmanager
def reserving(tokens: int) -> Iterator[Reservation]:
    """Make the next request token inside the block also take `tokens` from the token budget.

    Then `settle(reservation.taken, actual)` after the call: what was reserved and not used
    goes back, an under-estimate is charged. A model without this limiter takes nothing.
    """
    reservation = Reservation(tokens=max(int(tokens), 0))
    token = _reservation.set(reservation)
    try:
        yield reservation
    finally:
        _reservation.reset(token)


def _async_from(sleep: Callable[[float], None]) -> Callable[[float], Awaitable[None]]:
    """Make an injected (test) sleep usable by `aacquire`: sleep, then yield to the loop."""

    async def asleep(seconds: float) -> None:
        sleep(seconds)
        await asyncio.sleep(0)

    return asleep


@contextlib.contextmanager
def on_wait(callback: WaitCallback) -> Iterator[None]:
    """Call `callback` about every 5 s while this thread (or task) waits in `acquire`."""
    token = _wait_callbacks.set((*_wait_callbacks.get(), callback))
    try:
        yield
    finally:
        _wait_callbacks.reset(token)


def _run_wait_callbacks() -> None:
    """Call the registered wait callbacks; their exceptions end the wait."""
    for callback in _wait_callbacks.get():
        callback()


# --- Outages ------------------------------------------------------------------------------
class _OutageTolerant:
    """A backend whose store (Redis, or the database) may be down for a while.

    An unreachable store is the platform's fault, never the item's: a try for a token
    answers "wait" (backing off) instead of raising, so the model call holds as it would for
    a provider's 429, its item keeps its lease (the wait callbacks renew it) and spends no
    attempt; it goes out once the store answers again. The accounting calls (hold, charge,
    settle, tighten) are dropped while it is down: they adjust a bucket nobody can read.
    """

    def __init__(self, backend: _Backend, outage: outages.Outage) -> None:
        self._backend = backend
        self._outage = outage

    def try_acquire(self, rpm: Budget | None, tpm: Budget | None, tokens: int = 0) -> float:
        return self._waiting(self._backend.try_acquire, rpm, tpm, tokens)

    def reserve(self, tpm: Budget, tokens: int) -> float:
        return self._waiting(self._backend.reserve, tpm, tokens)

    def hold(self, seconds: float) -> None:
        self._dropping(self._backend.hold, seconds)

    def charge(self, tpm: Budget, tokens: int) -> None:
        self._dropping(self._backend.charge, tpm, tokens)

    def settle(self, tpm: Budget, tokens: int) -> None:
        self._dropping(self._backend.settle, tpm, tokens)

    def tighten(
        self, rpm: Budget | None, requests_left: int, tpm: Budget | None, tokens_left: int
    ) -> None:
        self._dropping(self._backend.tighten, rpm, requests_left, tpm, tokens_left)

    def _waiting(self, call: Callable[..., float], *args: object) -> float:
        try:
            wait = call(*args)
        except Exception as error:
            if not outages.is_platform_fault(error):
                raise
            return self._failed(error)
        self._outage.recovered()
        return wait

    def _dropping(self, call: Callable[..., None], *args: object) -> None:
        try:
            call(*args)
        except Exception as error:
            if not outages.is_platform_fault(error):
                raise
            self._failed(error)
        else:
            self._outage.recovered()

    def _failed(self, error: BaseException) -> float:
        if outages.is_database_fault(error) and not connection.in_atomic_block:
            # A broken connection stays broken: drop it, so the next try opens a new one.
            connection.close()
        return max(self._outage.failed(error), MIN_WAIT_S)


# --- Database backend ----------------------------------------------------------------------
class _DatabaseBackend:
    """Buckets as `RateBucket` rows, each try one short transaction holding the row locks.

    "Now" is this process's clock, so machines sharing the database need NTP: skew only ever
    refills less (see `_locked_bucket`), but a hold ends early or late by the skew.
    Call it outside any transaction of yours, or the row lock lasts until your commit.
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock

    def try_acquire(self, rpm: Budget | None, tpm: Budget | None, tokens: int = 0) -> float:
        # Read before waiting for the lock: a stale "now" can only undercount the refill.
        now = self._clock()
        with transaction.atomic():
            # Always lock "rpm" before "tpm", so two tries never deadlock.
            rpm_row = _locked_bucket(RPM_BUCKET, rpm, now)
            wait = rpm_row.hold_until - now
            if rpm is not None and rpm_row.tokens < 1:
                wait = max(wait, (1 - rpm_row.tokens) / rpm.rate)
            if tpm is not None:
                tpm_row = _locked_bucket(TPM_BUCKET, tpm, now)
                # A reserving call needs room for its estimate (a call bigger than the burst
                # waits for a full bucket); an unreserved one only needs the bucket not in debt.
                if tokens > 0 and tpm_row.tokens < (need := min(float(tokens), tpm.capacity)):
                    wait = max(wait, (need - tpm_row.tokens) / tpm.rate + MIN_WAIT_S)
                elif tokens <= 0 and tpm_row.tokens <= 0:
                    wait = max(wait, -tpm_row.tokens / tpm.rate + MIN_WAIT_S)
            if wait > 0:
                return max(wait, MIN_WAIT_S)
            if rpm is not None:
                rpm_row.tokens -= 1
                rpm_row.save(update_fields=["tokens", "updated_at"])
            if tpm is not None and tokens > 0:
                tpm_row.tokens -= tokens
                tpm_row.save(update_fields=["tokens", "updated_at"])
            return 0.0

    def hold(self, seconds: float) -> None:
        now = self._clock()
        with transaction.atomic():
            row = _locked_bucket(RPM_BUCKET, None, now)
            row.hold_until = max(row.hold_until, now + seconds)
            row.save(update_fields=["hold_until"])

    def charge(self, tpm: Budget, tokens: int) -> None:
        now = self._clock()
        with transaction.atomic():
            row = _locked_bucket(TPM_BUCKET, tpm, now)
            row.tokens -= tokens
            row.save(update_fields=["tokens", "updated_at"])

    def reserve(self, tpm: Budget, tokens: int) -> float:
        now = self._clock()
        with transaction.atomic():
            row = _locked_bucket(TPM_BUCKET, tpm, now)
            # A call bigger than the burst waits for a full bucket (see the module doc).
            need = min(float(tokens), tpm.capacity)
            if row.tokens < need:
                return max((need - row.tokens) / tpm.rate, MIN_WAIT_S)
            row.tokens -= tokens
            row.save(update_fields=["tokens", "updated_at"])
            return 0.0

    def settle(self, tpm: Budget, tokens: int) -> None:
        now = self._clock()
        with transaction.atomic():
            row = _locked_bucket(TPM_BUCKET, tpm, now)
            # Given-back tokens never fill the bucket past its burst, or a window could see more.
            row.tokens = min(tpm.capacity, row.tokens - tokens)
            row.save(update_fields=["tokens", "updated_at"])

    def tighten(
        self, rpm: Budget | None, requests_left: int, tpm: Budget | None, tokens_left: int
    ) -> None:
        now = self._clock()
        with transaction.atomic():
            # "rpm" before "tpm", as every try locks them.
            for name, budget, left in (
                (RPM_BUCKET, rpm, requests_left),
                (TPM_BUCKET, tpm, tokens_left),
            ):
                if budget is not None:
                    row = _locked_bucket(name, budget, now)
                    if row.tokens > left:
                        row.tokens = float(left)
                        row.save(update_fields=["tokens", "updated_at"])


def _locked_bucket(name: str, budget: Budget | None, now: float) -> RateBucket:
    """Return the bucket row `name` locked, created full if missing, refilled up to `now`."""
    # get_or_create retries the locked get when a concurrent creator wins the insert race.
    row, _ = RateBucket.objects.select_for_update().get_or_create(
        name=name, defaults={"tokens": budget.capacity if budget else 0.0, "updated_at": now}
    )
    # A clock behind the last writer's refills nothing: `updated_at` never moves back.
    if budget is not None and now > row.updated_at:
        row.tokens = min(budget.capacity, row.tokens + (now - row.updated_at) * budget.rate)
        row.updated_at = now
    return row


# --- Redis backend -------------------------------------------------------------------------
# Refill and take in one script, on the server's clock, so machines' clocks do not matter.
# A missing key is a full bucket.
_LUA_REFILL = """
local function now_s()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end

local function load(key, capacity, rate, now)
  local s = redis.call('HMGET', key, 'tokens', 'updated_at', 'hold_until')
  local tokens = tonumber(s[1]) or capacity
  local updated = tonumber(s[2]) or now
  if now > updated then
    tokens = math.min(capacity, tokens + (now - updated) * rate)
    updated = now
  end
  return tokens, updated, tonumber(s[3]) or 0
end
"""

_LUA_ACQUIRE = (
    _LUA_REFILL
    + """
-- KEYS: rpm bucket, tpm bucket. ARGV: rpm capacity, rate, tpm capacity, rate (0 = no budget),
-- tokens the call reserves (0: none; it then only needs the token bucket not in debt).
-- Returns 0 (granted) or the wait in whole milliseconds (a float reply would be truncated).
local rpm_cap, rpm_rate = tonumber(ARGV[1]), tonumber(ARGV[2])
local tpm_cap, tpm_rate = tonumber(ARGV[3]), tonumber(ARGV[4])
local want = tonumber(ARGV[5]) or 0
local now = now_s()
local rpm_tokens, rpm_updated, hold = load(KEYS[1], rpm_cap, rpm_rate, now)
local wait = hold - now
if rpm_rate > 0 and rpm_tokens < 1 then
  wait = math.max(wait, (1 - rpm_tokens) / rpm_rate)
end
local tpm_tokens, tpm_updated = 0, now
if tpm_rate > 0 then
  tpm_tokens, tpm_updated = load(KEYS[2], tpm_cap, tpm_rate, now)
  if want > 0 and tpm_tokens < math.min(want, tpm_cap) then
    wait = math.max(wait, (math.min(want, tpm_cap) - tpm_tokens) / tpm_rate + 0.001)
  elseif want <= 0 and tpm_tokens <= 0 then
    wait = math.max(wait, -tpm_tokens / tpm_rate + 0.001)
  end
end
if wait > 0 then
  return math.max(1, math.ceil(wait * 1000))
end
if rpm_rate > 0 then
  redis.call('HSET', KEYS[1], 'tokens', rpm_tokens - 1, 'updated_at', rpm_updated)
end
if tpm_rate > 0 and want > 0 then
  redis.call('HSET', KEYS[2], 'tokens', tpm_tokens - want, 'updated_at', tpm_updated)
end
return 0
"""
)

_LUA_HOLD = """
-- KEYS: rpm bucket. ARGV: seconds.
local t = redis.call('TIME')
local until_s = tonumber(t[1]) + tonumber(t[2]) / 1000000 + tonumber(ARGV[1])
local hold = tonumber(redis.call('HGET', KEYS[1], 'hold_until')) or 0
if until_s > hold then
  redis.call('HSET', KEYS[1], 'hold_until', until_s)
end
return 0
"""

_LUA_CHARGE = (
    _LUA_REFILL
    + """
-- KEYS: tpm bucket. ARGV: capacity, rate, tokens used.
local tokens, updated = load(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), now_s())
redis.call('HSET', KEYS[1], 'tokens', tokens - tonumber(ARGV[3]), 'updated_at', updated)
return 0
"""
)


_LUA_RESERVE = (
    _LUA_REFILL
    + """
-- KEYS: tpm bucket. ARGV: capacity, rate, tokens to reserve.
-- Returns 0 (taken) or the wait in whole milliseconds.
local cap, rate, want = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tokens, updated = load(KEYS[1], cap, rate, now_s())
local need = math.min(want, cap)
if tokens < need then
  return math.max(1, math.ceil((need - tokens) / rate * 1000))
end
redis.call('HSET', KEYS[1], 'tokens', tokens - want, 'updated_at', updated)
return 0
"""
)

_LUA_SETTLE = (
    _LUA_REFILL
    + """
-- KEYS: tpm bucket. ARGV: capacity, rate, tokens to charge (negative: give back).
local cap = tonumber(ARGV[1])
local tokens, updated = load(KEYS[1], cap, tonumber(ARGV[2]), now_s())
redis.call('HSET', KEYS[1], 'tokens', math.min(cap, tokens - tonumber(ARGV[3])),
  'updated_at', updated)
return 0
"""
)


_LUA_TIGHTEN = (
    _LUA_REFILL
    + """
-- KEYS: rpm bucket, tpm bucket. ARGV: rpm capacity, rate, requests left, tpm capacity, rate,
-- tokens left (a zero rate: leave that bucket alone). Lowers, never raises.
local now = now_s()
for i = 1, 2 do
  local cap, rate, left = tonumber(ARGV[3*i-2]), tonumber(ARGV[3*i-1]), tonumber(ARGV[3*i])
  if rate > 0 then
    local tokens, updated = load(KEYS[i], cap, rate, now)
    if tokens > left then
      redis.call('HSET', KEYS[i], 'tokens', left, 'updated_at', updated)
    end
  end
end
return 0
"""
)


class _RedisBackend:
    """Buckets as Redis hashes, each try one Lua script."""

    def __init__(self, url: str) -> None:
        client = redis.Redis.from_url(url)
        self._keys = [REDIS_KEY_PREFIX + RPM_BUCKET, REDIS_KEY_PREFIX + TPM_BUCKET]
        self._acquire = client.register_script(_LUA_ACQUIRE)
        self._hold = client.register_script(_LUA_HOLD)
        self._charge = client.register_script(_LUA_CHARGE)
        self._reserve = client.register_script(_LUA_RESERVE)
        self._settle = client.register_script(_LUA_SETTLE)
        self._tighten = client.register_script(_LUA_TIGHTEN)

    def try_acquire(self, rpm: Budget | None, tpm: Budget | None, tokens: int = 0) -> float:
        args = [*_budget_args(rpm), *_budget_args(tpm), tokens]
        return int(self._acquire(keys=self._keys, args=args)) / 1000

    def hold(self, seconds: float) -> None:
        self._hold(keys=self._keys[:1], args=[seconds])

    def charge(self, tpm: Budget, tokens: int) -> None:
        self._charge(keys=self._keys[1:], args=[*_budget_args(tpm), tokens])

    def reserve(self, tpm: Budget, tokens: int) -> float:
        return int(self._reserve(keys=self._keys[1:], args=[*_budget_args(tpm), tokens])) / 1000

    def settle(self, tpm: Budget, tokens: int) -> None:
        self._settle(keys=self._keys[1:], args=[*_budget_args(tpm), tokens])

    def tighten(
        self, rpm: Budget | None, requests_left: int, tpm: Budget | None, tokens_left: int
    ) -> None:
        args = [*_budget_args(rpm), requests_left, *_budget_args(tpm), tokens_left]
        self._tighten(keys=self._keys, args=args)


def _budget_args(budget: Budget | None) -> list[float]:
    """Return a budget as script arguments; zeros mean no budget."""
    return [budget.capacity, budget.rate] if budget else [0.0, 0.0]


# --- Providers' rate-limit headers --------------------------------------------------------
# What is left of the provider's own minute, as OpenAI (and OpenAI-compatible servers) and
# Anthropic report it on every answer.
_REQUESTS_LEFT = ("x-ratelimit-remaining-requests", "anthropic-ratelimit-requests-remaining")
_TOKENS_LEFT = ("x-ratelimit-remaining-tokens", "anthropic-ratelimit-tokens-remaining")


def remaining_from_headers(headers: Mapping[str, str]) -> tuple[int | None, int | None]:
    """Return (requests left, tokens left) from a provider answer's headers; None if absent."""
    lowered = {str(key).lower(): value for key, value in headers.items()}
    return _first_int(lowered, _REQUESTS_LEFT), _first_int(lowered, _TOKENS_LEFT)


def _first_int(headers: Mapping[str, str], names: tuple[str, ...]) -> int | None:
    for name in names:
        try:
            return int(float(headers[name]))
        except (KeyError, TypeError, ValueError):
            continue
    return None


# --- Per-process limiter -------------------------------------------------------------------
_limiter: SharedRateLimiter | None = None
_limiter_lock = threading.Lock()


def get_rate_limiter() -> SharedRateLimiter:
    """Return this process's limiter, configured from settings."""
    global _limiter  # one limiter per process, built on first use
    with _limiter_lock:
        if _limiter is None:
            _limiter = SharedRateLimiter(
                settings.GENERATION_RPM,
                settings.GENERATION_TPM,
                redis_url=settings.REDIS_URL,
                period_s=settings.GENERATION_RATE_PERIOD_S,
                max_call_tokens=settings.GENERATION_MAX_CALL_TOKENS,
            )
        return _limiter


def hold_for(seconds: float) -> None:
    """Hold every worker on every machine back for `seconds` (a provider 429's Retry-After)."""
    get_rate_limiter().hold(seconds)
