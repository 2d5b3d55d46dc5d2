"""Rate-limit counters in Redis with every window of a limit in one round trip (issue 21).

A limit such as SCAN_RATE_LIMIT = "120 per minute;2000 per hour" is two counters. Flask-Limiter's fixed-window
strategy asks its storage for them one at a time, smallest window first, and stops at the first one breached:
with limits' RedisStorage that was one EVALSHA (INCRBY, and EXPIRE on the first hit) per window, i.e. two round
trips on every scan, and two more (GET, TTL) to say when to come back on a refusal.

`OneTripRedisStorage` is limits' RedisStorage, registered for the redis schemes through limits' storage registry
(STORAGE_SCHEME: defining the class is the registration), so `RATELIMIT_STORAGE_URI=redis://…` (REDIS_URL) gets
it and nothing else changes: the same keys, expiries and counts, the same `incr`/`get`/`clear` for the sign-in
counters of blueprints/sign_in.py, the same exceptions when Redis is down (Flask-Limiter then does what its
settings say: RATELIMIT_SWALLOW_ERRORS, RATELIMIT_IN_MEMORY_FALLBACK…). The one difference: when Flask-Limiter
increments the first window of a limit declared with `counted_together` (blueprints/ext.py `limited` declares
every shared limit so), one Lua script increments that window and the larger ones after it, stopping where
Flask-Limiter would stop (the first window over its amount), and returns each count and time to live. Flask-Limiter's
next increments in the same request are then answered from what the script returned, as are the count and expiry it
reads for the 429's Retry-After. Without Redis (`memory://`) there is no round trip to save, and nothing changes.

One case counts differently: a view with two limits (a need posted with photos: NEED_RATE_LIMIT and
PHOTO_RATE_LIMIT) refused by the second limit's smaller window has had the first limit's larger windows counted
too, where Flask-Limiter, going through all windows of both smallest first, would have stopped before them. The
refused request was already counted in the first limit's smallest window; it now counts in all of them.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable

from flask import g, has_app_context
from limits import parse_many
from limits.storage import RedisStorage

#: scope -> the limit string of the shared limit counted under it (e.g. "scans" -> "120 per minute;2000 per hour").
_GROUPS: dict[str, Callable[[], str]] = {}

#: Every window from the first given, in one trip. KEYS: the windows' counters, smallest window first. ARGV: each
#: window's expiry and amount in turn, then the cost. Each counter is incremented and, when new, given its expiry
#: (as limits' incr_expire.lua does); the script stops after the first counter past its amount, as Flask-Limiter
#: stops at the first limit breached. Returns each counter's count and seconds to live.
_INCREMENT_WINDOWS = """
local cost = tonumber(ARGV[#ARGV])
local answers = {}
for i, key in ipairs(KEYS) do
    local count = redis.call("incrby", key, cost)
    if count == cost then
        redis.call("expire", key, ARGV[2 * i - 1])
    end
    answers[#answers + 1] = count
    answers[#answers + 1] = redis.call("ttl", key)
    if count > tonumber(ARGV[2 * i]) then
        break
    end
end
return answers
"""


def counted_together(scope: str, windows: Callable[[], str]) -> None:
    """Declare that the shared limit of `scope` has the windows `windows()` names (a limit string, read at each
    request): its counters are then incremented in one round trip."""
    _GROUPS[scope] = windows


def _request_memo() -> tuple[dict[str, int], dict[str, tuple[int, float]]] | None:
    """This request's (increments answered ahead, counters seen), or None outside a request's app context."""
    if not has_app_context():
        return None
    memo = g.get("_rate_limit_memo")
    if memo is None:
        memo = g._rate_limit_memo = ({}, {})
    return memo


@functools.lru_cache(maxsize=64)
def _parsed(limit: str) -> tuple[tuple[str, int, int], ...]:
    """Each window of a limit string, in Flask-Limiter's order (the smallest first): its key's end, expiry, amount."""
    return tuple((f"{item.amount}/{item.multiples}/{item.GRANULARITY.name}", item.get_expiry(), item.amount)
                 for item in sorted(parse_many(limit)))


class OneTripRedisStorage(RedisStorage):
    """limits' RedisStorage, with every window of a limit counted together in one round trip (module docstring)."""

    STORAGE_SCHEME = ["redis", "rediss", "redis+unix"]

    def initialize_storage(self, uri: str) -> None:
        super().initialize_storage(uri)
        self.lua_increment_windows = self.get_connection().register_script(_INCREMENT_WINDOWS)

    def _windows_from(self, key: str) -> list[tuple[str, int, int]] | None:
        """(key, expiry, amount) of the window `key` counts and of the larger windows of its limit, or None when
        `key` is not a window of a limit counted together."""
        head, sep, _window = key.rpartition("/")
        head, _sep, _multiples = head.rpartition("/")
        head, _sep, _amount = head.rpartition("/")
        scope = head.rpartition("/")[2]
        windows = _GROUPS.get(scope) if sep and key.startswith("LIMITER/") else None
        if windows is None:
            return None
        parsed = _parsed(windows())
        keys = [f"{head}/{suffix}" for suffix, _expiry, _amount in parsed]
        if key not in keys:
            return None
        first = keys.index(key)
        return [(each, expiry, amount) for each, (_suffix, expiry, amount) in zip(keys, parsed, strict=True)][first:]

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        memo = _request_memo()
        if memo is not None and key in memo[0]:
            return memo[0].pop(key)
        windows = self._windows_from(key) if memo is not None else None
        if windows is None or len(windows) == 1:
            if memo is not None:
                memo[1].pop(key, None)  # counted anew: read again for Retry-After
            return super().incr(key, expiry, amount)
        answers = self.lua_increment_windows(
            [self.prefixed_key(each) for each, _expiry, _amount in windows],
            [*(value for _key, expiry, limit in windows for value in (expiry, limit)), amount])
        now = time.time()
        ahead, seen = memo
        for (each, _expiry, _limit), count, ttl in zip(windows, answers[::2], answers[1::2], strict=False):
            ahead[each] = int(count)
            seen[each] = (int(count), now + max(int(ttl), 0))
        return ahead.pop(key)

    def get(self, key: str) -> int:
        memo = _request_memo()
        if memo is not None and key in memo[1]:
            return memo[1][key][0]
        return super().get(key)

    def get_expiry(self, key: str) -> float:
        memo = _request_memo()
        if memo is not None and key in memo[1]:
            return memo[1][key][1]
        return super().get_expiry(key)

    def clear(self, key: str) -> None:
        memo = _request_memo()
        if memo is not None:
            memo[0].pop(key, None)
            memo[1].pop(key, None)
        super().clear(key)
