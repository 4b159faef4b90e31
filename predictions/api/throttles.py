"""Rate limits: per token for integrations, per user for the portal's session calls, per address otherwise."""

from __future__ import annotations

from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache.backends.redis import RedisCache
from rest_framework.throttling import SimpleRateThrottle

from ..models import ApiToken


class ApiRateThrottle(SimpleRateThrottle):
    """One bucket per API token (scope `token`), per signed-in user (`user`) or per client address (`anon`).

    Rates are REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]; counts live in the default cache, which must be
    shared by all web processes (Redis) for the limit to hold across them.

    A sliding window made of two fixed-window counters: the previous window's count, weighted by how much
    of it the sliding window still covers, plus the current one's. DRF's own throttle keeps every request's
    timestamp in one cache entry, which each request reads and writes back whole (at 1200 a minute, 1200
    floats per request) and which two web processes overwrite each other's updates of; a counter is one
    atomic increment.

    On Redis (the cache every deployment of several web processes uses) the three steps are one MULTI/EXEC
    round trip; through Django's cache API they were four (its incr checks that the key exists first), paid
    by every API request.
    """

    cache_format = "throttle_%(scope)s_%(ident)s_%(window)d"

    def __init__(self):
        # The scope, and so the rate, depends on the request: chosen in allow_request.
        self.ident = None
        self.wait_seconds = None

    def allow_request(self, request, view):
        if isinstance(request.auth, ApiToken):
            self.scope, self.ident = "token", f"token-{request.auth.pk}"
        elif request.user is not None and request.user.is_authenticated:
            self.scope, self.ident = "user", f"user-{request.user.pk}"
        else:
            self.scope, self.ident = "anon", self.get_ident(request)
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        if self.rate is None:
            return True
        now = self.timer()
        window, elapsed = divmod(now, self.duration)
        current_key, previous_key = self._key(int(window)), self._key(int(window) - 1)
        previous, current = self._count(current_key, previous_key, timeout=int(2 * self.duration + 1))
        previous_share = previous * (1 - elapsed / self.duration)
        if previous_share + current <= self.num_requests:
            return True
        self.cache.decr(current_key)  # a refused request does not count against the next ones
        self.wait_seconds = self._wait(previous, current - 1, elapsed)
        return False

    def _count(self, current_key: str, previous_key: str, timeout: int) -> tuple[int, int]:
        """Count this request in the current window; return the previous window's count and the current one's.
        Entries outlive the window after theirs, which still reads them as its previous one."""
        backend = caches[DEFAULT_CACHE_ALIAS]
        if isinstance(backend, RedisCache):
            # The raw client, for one pipeline: Django's cache API has no way to send several commands at once.
            current_key = backend.make_and_validate_key(current_key)
            pipeline = backend._cache.get_client(current_key, write=True).pipeline(transaction=True)
            pipeline.set(current_key, 0, nx=True, ex=timeout)
            pipeline.incr(current_key)
            pipeline.get(backend.make_and_validate_key(previous_key))
            _, current, previous = pipeline.execute()
            return int(previous or 0), int(current)
        self.cache.add(current_key, 0, timeout=timeout)
        try:
            current = self.cache.incr(current_key)
        except ValueError:  # evicted between add and incr
            self.cache.set(current_key, 1, timeout=timeout)
            current = 1
        return self.cache.get(previous_key, 0), current

    def _key(self, window: int) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.ident, "window": window}

    def _wait(self, previous: int, current: int, elapsed: float) -> float:
        """Seconds until one more request fits, if none is made meanwhile."""
        room = self.num_requests - current - 1
        if room >= 0 and previous > 0:  # within this window, once enough of the previous one slides out
            return max(self.duration * (1 - room / previous) - elapsed, 0.0)
        # In the next window this one is the previous: wait until enough of it has slid out.
        later = self.duration * (1 - (self.num_requests - 1) / current) if current else 0.0
        return self.duration - elapsed + max(later, 0.0)

    def wait(self):
        return max(self.wait_seconds or 0.0, 1.0)
