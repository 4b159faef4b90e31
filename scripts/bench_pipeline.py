#!/usr/bin/env python
"""Benchmark the inference pipeline: upload -> queue -> worker -> stored prediction, on PostgreSQL + Redis.

Starts one Celery worker (one pool process, the configured model), then
  1. burst: --clients concurrent clients upload N images (default 200), each upload its own request-sized
     transaction, as fast as they can; throughput = N / (first upload started .. last prediction
     stored), with each image's upload-to-result latency. The clients share the machine with the worker.
  2. drain: N images committed at once (as a batch upload does) and the time until the worker has
     stored every prediction: the worker's throughput once a queue has built up.
  3. idle: uploads images one at a time, each after the previous one's prediction and heatmap are done,
     for the latency of a single upload on an otherwise idle system.
It works in a database of its own (dropped and made anew each run) and a queue of its own.

    .venv/bin/python scripts/bench_pipeline.py [--images 200] [--compare]

--compare first runs `python -m mlcore bench` for the model's own batch throughput on this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_IMAGES = ROOT.parent / "shared" / "ham10000" / "images"


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=200, help="images in the burst (default 200)")
    parser.add_argument("--image-dir", type=Path, default=DEFAULT_IMAGES)
    parser.add_argument("--clients", type=int, default=4, help="concurrent uploading clients in the burst")
    parser.add_argument("--idle", type=int, default=20, help="one-at-a-time uploads for the idle latency")
    parser.add_argument(
        "--postgres",
        default="postgres://postgres@127.0.0.1:5432",
        help="PostgreSQL server URL (a database skinclinic_pipeline_bench is made there)",
    )
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/13", help="Redis URL for the broker")
    parser.add_argument("--compare", action="store_true", help="also run `python -m mlcore bench` first")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    return parser.parse_args()


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def mlcore_batch_throughput() -> tuple[float, float]:
    model = ["--model", os.environ["MODEL_DIR"]] if os.environ.get("MODEL_DIR") else []
    out = subprocess.run(
        [sys.executable, "-m", "mlcore", "bench", "--json", *model],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    figures = json.loads(out[out.index("{") :])
    return figures["batch_throughput_images_per_s"]["median"], figures["batch_cpu_ms_per_image"]


def recreate_database(server: str, name: str) -> None:
    import psycopg

    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


class Worker:
    def __init__(self, env):
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "skinclinic",
                "worker",
                "--concurrency",
                "1",
                "--loglevel",
                "INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-n",
                f"bench-{uuid.uuid4().hex[:6]}@%h",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=lambda: self.lines.extend(self.process.stdout), daemon=True).start()

    def wait_until_model_loaded(self, timeout=300):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(re.search(r"loaded in worker process", line) for line in list(self.lines)):
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        raise SystemExit("the worker did not load the model:\n" + "".join(self.lines[-50:]))

    def cpu_seconds(self) -> float:
        """CPU time so far of the worker and its pool processes (Linux /proc), which moves less than wall
        time when other work shares the cores."""
        total, pids = 0.0, [self.process.pid]
        while pids:
            pid = pids.pop()
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
                pids += [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
            except (OSError, ValueError):
                continue
        return total

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()


def main() -> int:
    args = parse_args()
    needed = 5 + 2 * args.images + args.idle
    paths = sorted(args.image_dir.glob("*.jpg"))[:needed]
    if len(paths) < needed:
        raise SystemExit(f"need {needed} JPEGs in {args.image_dir}, found {len(paths)}")
    images = [p.read_bytes() for p in paths]
    warm_set, burst_set = images[:5], images[5 : 5 + args.images]
    drain_set, idle_set = images[5 + args.images : 5 + 2 * args.images], images[5 + 2 * args.images :]

    reference, reference_cpu_ms = mlcore_batch_throughput() if args.compare else (None, None)

    database = "skinclinic_pipeline_bench"
    recreate_database(args.postgres, database)
    scratch = Path(tempfile.mkdtemp(prefix="skinclinic-bench-"))
    env = {
        **os.environ,
        "DATABASE_URL": f"{args.postgres}/{database}",
        "CELERY_BROKER_URL": args.redis,
        "CELERY_QUEUE": f"bench-{uuid.uuid4().hex[:8]}",
        "SECRET_KEY": "bench-only-secret-key",
        "MEDIA_ROOT": str(scratch / "media"),
        "SKINCLINIC_VAR_DIR": str(scratch / "var"),
        "WARM_MODEL_ON_WORKER_START": "1",
        "DJANGO_SETTINGS_MODULE": "skinclinic.settings",
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.core.management import call_command
    from django.db import close_old_connections, transaction

    from predictions.models import Prediction, PredictionStatus, Role
    from predictions.services import clinic_create, image_upload, lesion_create, membership_create, patient_create

    call_command("migrate", verbosity=0)
    user = get_user_model().objects.create_user("bench", password=uuid.uuid4().hex)
    clinic = clinic_create(name="Benchmark clinic", slug="bench")
    membership_create(clinic=clinic, user=user, role=Role.CLINICIAN)
    patient = patient_create(actor=user, clinic=clinic, mrn="BENCH-1", full_name="Benchmark Patient")
    lesion = lesion_create(actor=user, patient=patient, site="back")
    done = (PredictionStatus.SUCCEEDED, PredictionStatus.FAILED)

    def upload(data: bytes) -> tuple[int, float]:
        started = time.time()
        image, _ = image_upload(actor=user, lesion=lesion, file=SimpleUploadedFile("bench.jpg", data))
        return image.predictions.get().pk, started

    def wait(ids, heatmaps=False, poll=0.01):
        pending = Prediction.objects.filter(id__in=ids).exclude(status__in=done)
        while pending.exists() or (
            heatmaps and Prediction.objects.filter(id__in=ids, status=PredictionStatus.SUCCEEDED, heatmap="").exists()
        ):
            time.sleep(poll)

    def upload_concurrently(batch: list[bytes], clients: int) -> list[tuple[int, float]]:
        results: list[tuple[int, float]] = []

        def client(share):
            try:
                results.extend(upload(data) for data in share)
            finally:
                close_old_connections()

        threads = [threading.Thread(target=client, args=(batch[i::clients],)) for i in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return results

    def finish_times(ids) -> dict[int, float]:
        rows = Prediction.objects.filter(id__in=ids).values_list("id", "finished_at")
        return {pk: finished.timestamp() for pk, finished in rows}

    worker = Worker(env)
    try:
        worker.wait_until_model_loaded()
        warm = [upload(data)[0] for data in warm_set]  # connections, caches and graph shapes
        wait(warm, heatmaps=True)

        burst = sorted(upload_concurrently(burst_set, args.clients), key=lambda row: row[1])
        wait([pk for pk, _ in burst])
        finished = finish_times([pk for pk, _ in burst])
        latencies = [finished[pk] - started for pk, started in burst]
        burst_throughput = args.images / (max(finished.values()) - burst[0][1])
        wait([pk for pk, _ in burst], heatmaps=True)  # let the heatmaps drain before the next phase

        with transaction.atomic():
            drain = [upload(data)[0] for data in drain_set]
        committed, cpu_before = time.time(), worker.cpu_seconds()
        wait(drain)
        drain_cpu_ms = (worker.cpu_seconds() - cpu_before) * 1000 / args.images
        drain_throughput = args.images / (max(finish_times(drain).values()) - committed)
        wait(drain, heatmaps=True)

        idle = []
        for data in idle_set:
            pk, started = upload(data)
            wait([pk], heatmaps=True, poll=0.005)
            idle.append(Prediction.objects.get(pk=pk).finished_at.timestamp() - started)
        failed = Prediction.objects.filter(status=PredictionStatus.FAILED).count()
    finally:
        worker.stop()

    figures = {
        "images": args.images,
        "clients": args.clients,
        "failed": failed,
        "burst_throughput_images_per_s": burst_throughput,
        "burst_latency_s": {"p50": statistics.median(latencies), "p95": percentile(latencies, 95)},
        "drain_throughput_images_per_s": drain_throughput,
        "drain_worker_cpu_ms_per_image": drain_cpu_ms,
        "idle_latency_ms": {
            "p50": statistics.median(idle) * 1000,
            "p95": percentile(idle, 95) * 1000,
            "uploads": len(idle),
        },
        "mlcore_batch_throughput_images_per_s": reference,
        "mlcore_batch_cpu_ms_per_image": reference_cpu_ms,
        "model_version": Prediction.objects.values_list("model_version", flat=True).first(),
        "cpus": os.cpu_count(),
    }
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    print(f"model {figures['model_version']}, {figures['cpus']} CPUs, one worker process; {failed} failed")
    print(
        f"burst, {args.clients} clients uploading {args.images} images: {burst_throughput:.1f} images/s "
        f"upload-to-stored-result; latency p50 {figures['burst_latency_s']['p50']:.2f} s, "
        f"p95 {figures['burst_latency_s']['p95']:.2f} s"
    )
    print(
        f"drain, {args.images} images queued at once: {drain_throughput:.1f} images/s, "
        f"worker CPU {drain_cpu_ms:.1f} ms an image"
    )
    print(
        f"idle, one upload at a time: upload-to-result p50 {figures['idle_latency_ms']['p50']:.0f} ms, "
        f"p95 {figures['idle_latency_ms']['p95']:.0f} ms"
    )
    if reference:
        print(
            f"mlcore batch throughput {reference:.1f} images/s: burst {burst_throughput / reference:.0%}, "
            f"drain {drain_throughput / reference:.0%} of it; model CPU {reference_cpu_ms:.1f} ms an image, "
            f"the drain's worker CPU {drain_cpu_ms / reference_cpu_ms:.2f}x that"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
