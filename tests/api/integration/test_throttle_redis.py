"""The API's rate limit on Redis, the cache that several web hosts share: counted in one pipeline, read by all."""

from __future__ import annotations

import urllib.parse

import pytest
from django.conf import settings
from django.core.cache import caches
from django.test import override_settings

from predictions.api.throttles import ApiRateThrottle
from tests.integration import _unavailable

from ..conftest import token_client

CLINICS = "/api/v1/clinics"


@pytest.fixture
def redis_cache():
    """The default cache on Redis, in a database of its own (emptied before and after: never the broker's)."""
    if not settings.CELERY_BROKER_URL.startswith("redis://"):
        _unavailable("CELERY_BROKER_URL does not point at Redis")
    broker = urllib.parse.urlsplit(settings.CELERY_BROKER_URL)
    location = f"redis://{broker.netloc}/13"
    config = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": location}}
    with override_settings(CACHES=config):
        cache = caches["default"]
        try:
            cache.clear()
        except Exception as exc:
            _unavailable(f"Redis does not answer at {location} ({exc})")
        yield cache
        cache.clear()


@pytest.fixture
def minute_clock(monkeypatch):
    clock = {"now": 600 * 60.0}  # the start of a minute
    monkeypatch.setattr(ApiRateThrottle, "timer", lambda self: clock["now"])
    return clock


def test_the_sliding_window_holds_on_redis(staff, redis_cache, minute_clock, monkeypatch):
    monkeypatch.setattr(
        ApiRateThrottle, "THROTTLE_RATES", {"token": "10/minute", "user": "10/minute", "anon": "1/minute"}
    )
    client = token_client(staff.clinician)
    assert [client.get(CLINICS).status_code for _ in range(11)] == [200] * 10 + [429]
    minute_clock["now"] += 60 + 30  # half-way through the next minute: half of the previous one still counts
    assert [client.get(CLINICS).status_code for _ in range(6)] == [200] * 5 + [429]
    response = client.get(CLINICS)
    assert response.status_code == 429 and 1 <= int(response["Retry-After"]) <= 30


def test_requests_counted_by_another_host_count_here(staff, redis_cache, minute_clock, monkeypatch):
    monkeypatch.setattr(
        ApiRateThrottle, "THROTTLE_RATES", {"token": "5/minute", "user": "5/minute", "anon": "1/minute"}
    )
    client = token_client(staff.clinician)
    assert client.get(CLINICS).status_code == 200
    [key] = [key for key in redis_cache._cache.get_client().keys("*throttle_token_*")]
    raw = redis_cache._cache.get_client(write=True)
    assert int(raw.get(key)) == 1  # counted in Redis, where every web host reads it
    assert raw.ttl(key) > 60  # and kept into the next window, which reads it as its previous one
    raw.incrby(key, 3)  # three requests another web host let through this minute
    assert [client.get(CLINICS).status_code for _ in range(2)] == [200, 429]
    assert int(raw.get(key)) == 5  # the refused request was not counted
