#!/usr/bin/env python
"""Load-test the REST API on gunicorn over loopback: list predictions (pages of 50), retrieve one, upload an
image (202: stored and queued; no worker runs the model), and the health check as the floor of what any
request costs on this machine.

    .venv/bin/python scripts/bench_api.py                      # PostgreSQL at 127.0.0.1, 16 clients
    .venv/bin/python scripts/bench_api.py --cache-url redis://127.0.0.1:6379/15 --duration 30

It creates (once) a database of one clinic with --predictions finished predictions (and a clinic for the
uploads), makes API tokens, counts the SQL queries each request makes (in-process, the same code path),
starts gunicorn, and drives it with --concurrency keep-alive clients for --duration seconds per scenario
after a warm-up. It prints requests/s, p50/p90/p99 latency, errors, SQL queries per request and the CPU
time per request of the web workers and of the PostgreSQL backends serving them (which, unlike requests/s,
hardly depend on what else the machine is running), each CPU time also as a ratio to the health check's web
CPU in the same run (what moves least between machines), and the same as JSON with --json.
Throttling stays on (its rate is raised so it never refuses); tokens are checked on every request.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/skinclinic_bench")
    parser.add_argument(
        "--cache-url", default="locmemcache://", help="where throttles count (redis://... as with several web hosts)"
    )
    parser.add_argument("--predictions", type=int, default=2000, help="finished predictions in the database")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds measured per scenario")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker (gthread)")
    parser.add_argument("--worker-class", default="gthread")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--only", choices=["list", "retrieve", "upload", "health"], help="run one scenario only")
    parser.add_argument("--uploads", type=int, default=4000, help="distinct images made for the upload scenario")
    parser.add_argument("--json", action="store_true", help="print the results as JSON too")
    return parser.parse_args()


def server_env(args) -> dict:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "skinclinic.settings",
        "DATABASE_URL": args.database_url,
        "CACHE_URL": args.cache_url,
        "SECRET_KEY": "bench-secret-key-not-for-production-0123456789",
        "DEBUG": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        "SECURE_SSL_REDIRECT": "false",
        "CELERY_BROKER_URL": "memory://",  # reads only: nothing is enqueued
        "API_THROTTLE_TOKEN_RATE": "100000000/minute",
        "LOG_LEVEL": "WARNING",
        # Connections kept for the whole run: a backend that closes mid-scenario takes its CPU time with it.
        "CONN_MAX_AGE": "3600",
        # Measured with reads planned once per connection; DB_PREPARED_STATEMENTS=false in the caller's
        # environment measures the default.
        "DB_PREPARED_STATEMENTS": os.environ.get("DB_PREPARED_STATEMENTS", "true"),
        "SKINCLINIC_VAR_DIR": str(ROOT / "var" / "bench"),
    }


def ensure_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def seed(count: int) -> tuple[str, list[int], str, list[int]]:
    """One clinic with `count` finished predictions (created once), and one for uploads; returns a new token
    key and the predictions' ids, then a new token key of the uploads' clinic and its lesions' ids."""
    import datetime

    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from mlcore import CLASSES, MALIGNANT_CLASSES
    from predictions.models import Clinic, Lesion, LesionImage, Membership, Patient, Prediction
    from predictions.services.api_tokens import api_token_create

    User = get_user_model()
    clinic, _ = Clinic.objects.get_or_create(slug="bench", defaults={"name": "Benchmark clinic"})
    user, _ = User.objects.get_or_create(username="bench-clinician")
    Membership.objects.get_or_create(user=user, clinic=clinic, defaults={"role": "clinician"})
    existing = Prediction.objects.filter(image__lesion__patient__clinic=clinic).count()
    rng = random.Random(7)
    now = timezone.now()
    for start in range(existing, count, 500):
        batch = range(start, min(start + 500, count))
        patients = Patient.objects.bulk_create(
            Patient(clinic=clinic, mrn=f"B-{n:06d}", full_name=f"Bench Patient {n}", created_by=user) for n in batch
        )
        lesions = Lesion.objects.bulk_create(Lesion(patient=p, site="back", created_by=user) for p in patients)
        images = LesionImage.objects.bulk_create(
            LesionImage(
                lesion=lesion,
                file=f"lesion-images/bench-{n}.jpg",
                sha256=f"{n:064x}",
                width=600,
                height=450,
                format="JPEG",
                size_bytes=50_000,
                uploaded_by=user,
                age=50,
                site="back",
            )
            for n, lesion in zip(batch, lesions)
        )
        predictions = []
        for n, image in zip(batch, images):
            raw = [rng.random() ** 3 for _ in CLASSES]
            probabilities = {c: v / sum(raw) for c, v in zip(CLASSES, raw)}
            queued = now - datetime.timedelta(minutes=n)
            predictions.append(
                Prediction(
                    image=image,
                    clinic=clinic,
                    model_version="bench:1.0",
                    status="succeeded",
                    probabilities=probabilities,
                    top_class=max(probabilities, key=probabilities.get),
                    attempts=1,
                    queued_at=queued,
                    malignancy_risk=sum(probabilities[c] for c in MALIGNANT_CLASSES),
                    started_at=queued + datetime.timedelta(seconds=1),
                    finished_at=queued + datetime.timedelta(seconds=2),
                    heatmap=f"heatmaps/bench-{n}.png",
                )
            )
        Prediction.objects.bulk_create(predictions)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # planner statistics for the rows just made
    _, key = api_token_create(user=user, name=f"bench {now:%Y-%m-%d %H:%M:%S}")
    ids = list(Prediction.objects.filter(image__lesion__patient__clinic=clinic).values_list("id", flat=True))
    # Uploads go to a clinic of their own, so that the predictions they queue never join the lists read above.
    uploads, _ = Clinic.objects.get_or_create(slug="bench-uploads", defaults={"name": "Benchmark uploads"})
    uploader, _ = User.objects.get_or_create(username="bench-uploader")
    Membership.objects.get_or_create(user=uploader, clinic=uploads, defaults={"role": "clinician"})
    patient, _ = Patient.objects.get_or_create(
        clinic=uploads, mrn="U-000001", defaults={"full_name": "Bench Uploads", "created_by": uploader}
    )
    lesions = list(patient.lesions.values_list("id", flat=True)) or [
        lesion.pk
        for lesion in Lesion.objects.bulk_create(
            Lesion(patient=patient, site="back", created_by=uploader) for _ in range(50)
        )
    ]
    _, upload_key = api_token_create(user=uploader, name=f"bench uploads {now:%Y-%m-%d %H:%M:%S}")
    return key, ids, upload_key, lesions


def upload_bodies(count: int) -> list[tuple[bytes, str]]:
    """`count` distinct 600x450 JPEG photographs (HAM10000's size) as multipart bodies with their content type:
    a blurred disc on a skin tone, each with its own colours and number."""
    import io

    from PIL import Image, ImageDraw, ImageFilter

    rng, run = random.Random(), time.time_ns()  # new images each run: a repeat would be answered 200, not stored
    bodies = []
    for n in range(count):
        skin = (200 + rng.randrange(40), 150 + rng.randrange(40), 120 + rng.randrange(40))
        image = Image.new("RGB", (600, 450), skin)
        draw = ImageDraw.Draw(image)
        x, y, r = 300 + rng.randrange(-80, 80), 225 + rng.randrange(-60, 60), 60 + rng.randrange(60)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=(90 + rng.randrange(60), 50 + rng.randrange(40), 40))
        draw.text((10, 10), f"{run}-{n}", fill=(0, 0, 0))
        buffer = io.BytesIO()
        image.filter(ImageFilter.GaussianBlur(3)).save(buffer, "JPEG", quality=90)
        boundary = f"bench{n:08d}"
        body = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="lesion-{n}.jpg"\r\n'
                f"Content-Type: image/jpeg\r\n\r\n"
            ).encode()
            + buffer.getvalue()
            + f"\r\n--{boundary}--\r\n".encode()
        )
        bodies.append((body, f"multipart/form-data; boundary={boundary}"))
    return bodies


def queries_per_request(key: str, requests: dict[str, Callable]) -> dict[str, int]:
    """SQL statements each request makes, counted in-process on the same views (after one warm-up call)."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_AUTHORIZATION=f"Token {key}")
    counts = {}
    for name, make in requests.items():
        method, path, body, content_type = make()
        send = getattr(client, method.lower())
        assert send(path, body, content_type=content_type).status_code in (200, 202), path
        method, path, body, content_type = make()
        with CaptureQueriesContext(connection) as captured:
            assert send(path, body, content_type=content_type).status_code in (200, 202)
        counts[name] = len(captured)
    return counts


def cpu_seconds(pids) -> float:
    """User + system CPU time so far of these processes (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def web_pids(master_pid: int) -> list[str]:
    return Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()


def database_pids(url: str) -> list[str]:
    """The PostgreSQL backends serving the benchmark database (gunicorn keeps its connections open)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    return [str(pid) for (pid,) in rows]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(args, port: int) -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "skinclinic.wsgi",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(args.workers),
        "--worker-class",
        args.worker_class,
        "--threads",
        str(args.threads),
        "--keep-alive",
        "30",
        "--log-level",
        "warning",
        "--backlog",
        "256",
    ]
    process = subprocess.Popen(command, cwd=ROOT, env=server_env(args))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                if b" 200 " in s.recv(100):
                    return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("gunicorn did not start")


class Connection:
    """One keep-alive HTTP/1.1 connection; reconnects when the server closes it."""

    def __init__(self, port: int, key: str):
        self.port, self.key = port, key
        self.reader = self.writer = None

    async def send(self, method: str, path: str, body: bytes = b"", content_type: str = "") -> tuple[int, bytes]:
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Token {self.key}\r\n"
            f"Accept: application/json\r\n"
        )
        if body:
            head += f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
        request = head.encode() + b"\r\n" + body
        for attempt in range(2):
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
            self.writer.write(request)
            try:
                head = await self.reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                self.close()
                if attempt:
                    raise
                continue
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split()[1])
            headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
            body = await self.reader.readexactly(int(headers.get("content-length", 0)))
            if headers.get("connection", "").lower() == "close":
                self.close()
            return status, body
        raise ConnectionError("no response")

    def close(self):
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def drive(port: int, key: str, requests, concurrency: int, duration: float) -> dict:
    """Run `concurrency` clients, each sending its next request (`requests()` makes it) as soon as the last
    is answered."""
    latencies, failures = [], Counter()
    stop = time.monotonic() + duration

    async def client(n: int):
        connection = Connection(port, key)
        while time.monotonic() < stop:
            method, path, payload, content_type = requests()
            started = time.perf_counter()
            try:
                status, body = await connection.send(method, path, payload, content_type)
            except (OSError, asyncio.IncompleteReadError, ConnectionError) as exc:
                status, body = 0, repr(exc).encode()
                connection.close()
            latencies.append(time.perf_counter() - started)
            if status not in (200, 202):
                failures[f"{status} {body[:120].decode(errors='replace')}"] += 1
        connection.close()

    began = time.monotonic()
    await asyncio.gather(*(client(n) for n in range(concurrency)))
    elapsed = time.monotonic() - began
    latencies.sort()

    def percentile(p):
        return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1000

    if failures:
        print(f"  failures: {dict(failures.most_common(3))}", file=sys.stderr)
    return {
        "requests": len(latencies),
        "errors": sum(failures.values()),
        "seconds": round(elapsed, 2),
        "requests_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(percentile(50), 1),
        "p90_ms": round(percentile(90), 1),
        "p99_ms": round(percentile(99), 1),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 1),
    }


def main():
    args = parse_args()
    os.environ.update(server_env(args))
    ensure_database(args.database_url)
    key, ids, upload_key, lesions = seed(args.predictions)
    pages = max(1, len(ids) // 50)
    bodies = iter(upload_bodies(args.uploads) if args.only in (None, "upload") else [])

    def upload():
        body, content_type = next(bodies, (None, None))
        if body is None:
            raise SystemExit(f"all {args.uploads} images were uploaded: run again with more --uploads")
        return "POST", f"/api/v1/lesions/{random.choice(lesions)}/images", body, content_type

    # name: (token key, a function that makes the next request as (method, path, body, content type))
    scenarios = {
        "list predictions (page of 50)": (
            key,
            lambda: ("GET", f"/api/v1/predictions?page={random.randint(1, pages)}", b"", ""),
        ),
        "retrieve one prediction": (key, lambda: ("GET", f"/api/v1/predictions/{random.choice(ids)}", b"", "")),
        "upload an image (202)": (upload_key, upload),
        # The floor under any API request on this machine: the same server, middleware and clients, no
        # authentication, no database, a 2-byte body.
        "health check (no DB, no auth)": (key, lambda: ("GET", "/healthz", b"", "")),
    }
    if args.only:
        scenarios = {name: scenario for name, scenario in scenarios.items() if name.startswith(args.only)}
    queries = {
        name: queries_per_request(scenario_key, {name: make})[name] for name, (scenario_key, make) in scenarios.items()
    }
    port = args.port or free_port()
    server = start_gunicorn(args, port)
    results = {}
    try:
        for name, (scenario_key, make) in scenarios.items():
            asyncio.run(drive(port, scenario_key, make, args.concurrency, args.warmup))
            web, database = web_pids(server.pid), database_pids(args.database_url)
            web_before, database_before = cpu_seconds(web), cpu_seconds(database)
            result = asyncio.run(drive(port, scenario_key, make, args.concurrency, args.duration))
            per_request = 1000 / max(result["requests"], 1)
            results[name] = {
                **result,
                "sql_queries_per_request": queries[name],
                "web_cpu_ms_per_request": round((cpu_seconds(web) - web_before) * per_request, 2),
                "db_cpu_ms_per_request": round(max(cpu_seconds(database) - database_before, 0) * per_request, 2),
            }
    finally:
        server.terminate()
        server.wait(timeout=30)

    # Each request's CPU as a multiple of the health check's web CPU in this run: absolute figures move with
    # the machine (and what else runs on it), the ratios much less.
    floor = results.get("health check (no DB, no auth)", {}).get("web_cpu_ms_per_request")
    for r in results.values():
        r["web_cpu_x_health"] = round(r["web_cpu_ms_per_request"] / floor, 1) if floor else None
        r["db_cpu_x_health"] = round(r["db_cpu_ms_per_request"] / floor, 1) if floor else None
    load = os.getloadavg()
    print(
        f"gunicorn {args.worker_class} x{args.workers} workers x{args.threads} threads, {args.concurrency} clients, "
        f"{args.duration:g} s each, {len(ids)} predictions, cache {args.cache_url.split(':')[0]}, "
        f"{os.cpu_count()} CPUs, load average {load[0]:.2f}"
    )
    print(
        f"{'scenario':32} {'req/s':>8} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'errors':>7} {'SQL/req':>8} "
        f"{'CPU ms/req: web':>16} {'db':>6} {'x health: web':>14} {'db':>5}"
    )
    for name, r in results.items():
        print(
            f"{name:32} {r['requests_per_s']:>8} {r['p50_ms']:>8} {r['p90_ms']:>8} {r['p99_ms']:>8} "
            f"{r['errors']:>7} {r['sql_queries_per_request']:>8} {r['web_cpu_ms_per_request']:>16} "
            f"{r['db_cpu_ms_per_request']:>6} {r['web_cpu_x_health'] or '-':>14} {r['db_cpu_x_health'] or '-':>5}"
        )
    if args.json:
        print(json.dumps({"config": vars(args), "load_average": load, "results": results}, indent=2))


if __name__ == "__main__":
    main()
