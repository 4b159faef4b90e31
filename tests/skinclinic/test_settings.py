"""The settings module under production and embedded-default environments, each in a fresh process."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "SECRET_KEY": "x7#kq2!vzp9-production-like-secret-for-the-deploy-check-0123456789abcdef",
    "ALLOWED_HOSTS": "clinic.example.org",
    "DATABASE_URL": "postgres://skinclinic@db.internal:5432/skinclinic",
    "CELERY_BROKER_URL": "redis://redis.internal:6379/0",
}


def run(args, env, cwd=ROOT):
    clean = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env={**clean, **env}, capture_output=True, text=True, timeout=120
    )


def settings_of(env, tmp_path, *names):
    code = (
        "import django, json; from django.conf import settings; django.setup(); "
        f"print(json.dumps({{n: str(getattr(settings, n)) for n in {list(names)!r}}}))"
    )
    result = run(
        ["-c", code], {"DJANGO_SETTINGS_MODULE": "skinclinic.settings", "SKINCLINIC_VAR_DIR": str(tmp_path), **env}
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_deploy_check_is_clean_under_production_settings():
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    env = {k: v for k, v in PRODUCTION.items() if k != "SECRET_KEY"}
    result = run(["manage.py", "check"], env)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_production_defaults_are_the_safe_ones(tmp_path):
    values = settings_of(
        PRODUCTION,
        tmp_path,
        "DEBUG",
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
        "SECURE_SSL_REDIRECT",
        "SKINCLINIC_MAX_UPLOAD_BYTES",
    )
    assert values == {
        "DEBUG": "False",
        "SESSION_COOKIE_SECURE": "True",
        "CSRF_COOKIE_SECURE": "True",
        "SECURE_SSL_REDIRECT": "True",
        "SKINCLINIC_MAX_UPLOAD_BYTES": str(20 * 1024 * 1024),
    }


def test_with_nothing_set_but_debug_the_embedded_default_needs_no_server(tmp_path):
    values = settings_of({"DEBUG": "1"}, tmp_path, "DATABASES", "CELERY_BROKER_URL", "MEDIA_ROOT")
    assert "sqlite3" in values["DATABASES"] and str(tmp_path / "db.sqlite3") in values["DATABASES"]
    assert values["CELERY_BROKER_URL"] == "filesystem://"
    assert values["MEDIA_ROOT"] == str(tmp_path / "media")
    assert (tmp_path / "celery" / "queue").is_dir()


def test_inconsistent_time_limits_are_refused_at_startup(tmp_path):
    result = run(
        ["manage.py", "check"], {**PRODUCTION, "CELERY_TASK_TIME_LIMIT": "7200", "SKINCLINIC_VAR_DIR": str(tmp_path)}
    )
    assert result.returncode != 0 and "visibility timeout" in result.stderr
