"""The README's management commands work as written in a fresh clone (issue 16: `manage.py api_token create`
failed there, needing the venv and DEBUG): `./scripts/manage` supplies both, and never turns DEBUG on where
SECRET_KEY is set (production)."""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import sqlite3
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _readme_token_command() -> str:
    found = re.findall(r"^(\S*manage\S* api_token create .+)$", (ROOT / "README.md").read_text(), re.MULTILINE)
    assert len(found) == 1, f"the README should give one token command, not {found}"
    return found[0]


def _fresh_shell(tmp_path, **extra) -> dict[str, str]:
    # What a newcomer's shell has: no DEBUG, no SECRET_KEY, no activated venv; this test's own var/.
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "SKINCLINIC_VAR_DIR": str(tmp_path / "var"),
        **extra,
    }


def _run(command: list[str], env, cwd=ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_the_readmes_token_command_works_verbatim_after_run_locals_set_up(tmp_path):
    env = _fresh_shell(tmp_path)
    for step in (["./scripts/manage", "migrate", "--noinput"], ["./scripts/manage", "seed_demo"]):  # as run-local does
        done = _run(step, env)
        assert done.returncode == 0, done.stderr[-2000:]

    command = _readme_token_command()
    assert command.startswith("./scripts/manage ")
    made = _run(["bash", "-c", command], env)
    assert made.returncode == 0, made.stderr[-2000:]
    key = made.stdout.strip()
    assert re.fullmatch(r"sc_[A-Za-z0-9_-]{40,}", key)
    assert "shown only now" in made.stderr

    # The key is stored as its digest for the user the README names, in the database run-local uses.
    with sqlite3.connect(tmp_path / "var" / "db.sqlite3") as db:
        owner = db.execute(
            "SELECT u.username FROM predictions_apitoken t JOIN auth_user u ON u.id = t.user_id WHERE t.key_hash = ?",
            (hashlib.sha256(key.encode()).hexdigest(),),
        ).fetchone()
    assert owner == (shlex.split(command)[3],)
    listed = _run(["./scripts/manage", "api_token", "list"], env)
    assert listed.returncode == 0 and key[:10] in listed.stdout and "EHR integration" in listed.stdout


def test_the_wrapper_works_from_another_directory(tmp_path):
    done = _run([str(ROOT / "scripts" / "manage"), "check"], _fresh_shell(tmp_path), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "System check identified no issues" in done.stdout


def test_where_secret_key_is_set_debug_stays_off(tmp_path):
    show = ["./scripts/manage", "shell", "-c", "from django.conf import settings; print('DEBUG', settings.DEBUG)"]
    production = _run(show, _fresh_shell(tmp_path, SECRET_KEY="a-production-secret-key-for-this-test-only"))
    assert production.returncode == 0, production.stderr[-2000:]
    assert "DEBUG False" in production.stdout
    local = _run(show, _fresh_shell(tmp_path))
    assert "DEBUG True" in local.stdout


def test_plain_manage_py_without_the_wrapper_is_what_failed(tmp_path):
    # The reason for the wrapper, kept honest: the venv's Python without DEBUG or SECRET_KEY refuses to start.
    bare = _run([str(ROOT / ".venv" / "bin" / "python"), "manage.py", "check"], _fresh_shell(tmp_path))
    assert bare.returncode != 0 and "SECRET_KEY" in bare.stderr
    assert os.access(ROOT / "scripts" / "manage", os.X_OK)
