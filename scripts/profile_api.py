#!/usr/bin/env python
"""Split the CPU of an API retrieve and a list page of 50 into phases, in-process (Django's test client, the
same views and middleware as gunicorn runs, bench_api's database and settings).

    .venv/bin/python scripts/profile_api.py --database-url postgres://postgres@127.0.0.1:5432/skinclinic_bench

Each phase is timed where it runs (token check, throttle, the scoped read, the audit record, the
representation, rendering) in CPU time of the request's thread; inside each, the CPU Django spent compiling
SQL, and the wall time of its statements (the database's work, the round trip and the driver's), are timed
apart. "Middleware and DRF" is the rest of the request's CPU. Timers add a little of their own;
the split, not the absolute figure, is what this is for (bench_api measures the absolute CPU).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import bench_api  # noqa: E402

_stack: list[str] = []
_totals: dict[tuple[str, str], float] = defaultdict(float)


def _timed(owner, name: str, phase: str) -> None:
    """Wrap owner.name so that its time is counted under `phase` (outermost phase only)."""
    original = getattr(owner, name)

    def wrapper(*args, **kwargs):
        if _stack and _stack[-1] == phase:
            return original(*args, **kwargs)
        _stack.append(phase)
        started = time.thread_time()
        try:
            return original(*args, **kwargs)
        finally:
            _totals[(phase, "total")] += time.thread_time() - started
            _stack.pop()

    setattr(owner, name, wrapper)


def _sub_timed(owner, name: str, part: str, clock=time.thread_time) -> None:
    """Wrap owner.name so that its time by `clock` is counted as `part` of whatever phase is running
    (outermost call only)."""
    original = getattr(owner, name)
    depth = [0]

    def wrapper(*args, **kwargs):
        if depth[0]:
            return original(*args, **kwargs)
        depth[0] += 1
        started = clock()
        try:
            return original(*args, **kwargs)
        finally:
            depth[0] -= 1
            _totals[(_stack[-1] if _stack else "middleware and DRF", part)] += clock() - started

    setattr(owner, name, wrapper)


def instrument() -> None:
    from django.db.backends import utils as db_utils
    from django.db.models.sql.compiler import SQLCompiler

    from predictions.api import authentication, serializers, throttles, views
    from predictions.api.renderers import JSONRenderer
    from predictions.services import audit

    _timed(authentication.ApiTokenAuthentication, "authenticate", "token check")
    _timed(throttles.ApiRateThrottle, "allow_request", "throttle")
    _timed(views.selectors, "prediction_representation_get", "scoped read")
    _timed(views.PredictionListView, "paginate_queryset", "scoped read")
    _timed(views.PredictionListView, "filter_queryset", "scoped read")
    _timed(views, "audit_access_record", "audit record")
    _timed(views, "audit_list_access_record", "audit record")
    _timed(serializers.PredictionSerializer, "to_representation", "representation")
    _timed(JSONRenderer, "render", "rendering")
    _sub_timed(SQLCompiler, "as_sql", "SQL compile")
    _sub_timed(db_utils.CursorWrapper, "_execute_with_wrappers", "database", clock=time.perf_counter)
    del audit


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/skinclinic_bench")
    parser.add_argument("--predictions", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=300, help="measured requests per scenario")
    args = parser.parse_args()
    os.environ.update(
        bench_api.server_env(argparse.Namespace(database_url=args.database_url, cache_url="locmemcache://"))
    )
    bench_api.ensure_database(args.database_url)
    key, ids, _, _ = bench_api.seed(args.predictions)
    from django.test import Client

    client = Client(HTTP_AUTHORIZATION=f"Token {key}", HTTP_ACCEPT="application/json")
    pages = max(1, len(ids) // 50)
    scenarios = {
        "retrieve one prediction": lambda: f"/api/v1/predictions/{random.choice(ids)}",
        "list predictions (page of 50)": lambda: f"/api/v1/predictions?page={random.randint(1, pages)}",
    }
    instrument()
    for name, path in scenarios.items():
        for _ in range(30):  # warm-up: connections, prepared statements, imports
            assert client.get(path()).status_code == 200
        _totals.clear()
        count = args.requests if name.startswith("retrieve") else max(args.requests // 5, 20)
        started_cpu, started = time.thread_time(), time.perf_counter()
        for _ in range(count):
            assert client.get(path()).status_code == 200
        cpu, wall = time.thread_time() - started_cpu, time.perf_counter() - started
        per = 1000 / count
        print(f"\n{name}: {count} requests, {cpu * per:.2f} ms CPU / {wall * per:.2f} ms wall per request")
        print(f"  {'phase (CPU)':24} {'ms/req':>7} {'share':>6}   {'SQL compile':>11} {'statements (wall)':>18}")
        phases = [p for p, part in _totals if part == "total"]
        accounted = 0.0
        for phase in phases:
            total = _totals[(phase, "total")]
            accounted += total
            print(
                f"  {phase:24} {total * per:7.2f} {total / cpu:6.0%}   "
                f"{_totals[(phase, 'SQL compile')] * per:11.2f} {_totals[(phase, 'database')] * per:18.2f}"
            )
        rest = cpu - accounted
        print(f"  {'middleware and DRF':24} {rest * per:7.2f} {rest / cpu:6.0%}")


if __name__ == "__main__":
    main()
