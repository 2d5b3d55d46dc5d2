"""A short-lived cache of computed figures (a dashboard's, a leaderboard's lines), shared by every reader of an area.

The figures are statistics that staff read; some twenty grouped queries per dashboard (200 ms of CPU for a
district) recomputed for each reader on each request was the waste. They are kept DASHBOARD_CACHE_SECONDS
(0: never kept), in Redis when REDIS_URL is set (every worker and host shares them, under their own key prefix),
else in each process's memory. What is kept depends on nothing of the viewer: access is checked before the cache is
read, a dashboard's sections ask only the area and the months (domain/dashboards/sections.py, `Frame`), and a
leaderboard keeps its lines only, the reader's own line found apart (domain/leaderboards.py).

Flask-Caching's own settings (CACHE_*) in the app's configuration win over the defaults here (the tests give each
run its own CACHE_KEY_PREFIX).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from flask import Flask, current_app
from flask_caching import Cache
from redis.exceptions import RedisError

__all__ = ["figures", "kept_or_made", "use_cache"]

T = TypeVar("T")
log = logging.getLogger(__name__)

#: The cache of computed figures (bound to an app by `use_cache`).
figures = Cache()
#: Keys in a shared Redis begin with this, apart from the rate limits' counters.
KEY_PREFIX = "sanzhang:figures:"
_SECONDS = "dashboard_cache_seconds"


def use_cache(app: Flask) -> None:
    """Bind the cache to `app`: Redis at RATELIMIT_STORAGE_URI (REDIS_URL) when it is one, else process memory."""
    storage = app.config["RATELIMIT_STORAGE_URI"] or ""
    if storage.startswith(("redis://", "rediss://", "unix://")):
        config = {"CACHE_TYPE": "RedisCache", "CACHE_REDIS_URL": storage}
    else:
        config = {"CACHE_TYPE": "SimpleCache"}
    config.update({"CACHE_KEY_PREFIX": KEY_PREFIX, "CACHE_DEFAULT_TIMEOUT": app.config["DASHBOARD_CACHE_SECONDS"]})
    config.update({name: value for name, value in app.config.items() if name.startswith("CACHE_")})
    figures.init_app(app, config=config)
    app.extensions[_SECONDS] = app.config["DASHBOARD_CACHE_SECONDS"]


def kept_or_made(key: str, make: Callable[[], T]) -> T:
    """The value kept under `key`, else `make()` (then kept for DASHBOARD_CACHE_SECONDS; with 0, never kept). A cache
    that cannot be reached costs the figures' freshness of nobody: they are made for this reader, and it is logged."""
    seconds = current_app.extensions.get(_SECONDS, 0)
    if not seconds:
        return make()
    try:
        value = figures.get(key)
    except (RedisError, OSError) as error:
        log.warning("figures cache unreachable, made for this request: %s", error)
        return make()
    if value is None:
        value = make()
        try:
            figures.set(key, value, timeout=seconds)
        except (RedisError, OSError) as error:
            log.warning("figures cache unreachable, not kept: %s", error)
    return value
