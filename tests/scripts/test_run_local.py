"""`./scripts/run-local` as a newcomer runs it (issue 16): on the port PORT names, the demo login printed last, once
the worker has loaded the model and the web app answers, with the URL to open; and the printed login signs in."""

from __future__ import annotations

import http.cookiejar
import os
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BANNER = "SkinClinic is running: open "


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _sign_in(url: str, username: str, password: str) -> str:
    """Sign in through the login form as a browser would; returns the path the form sent us to."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    form = opener.open(url + "accounts/login/", timeout=30).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
    data = urllib.parse.urlencode({"csrfmiddlewaretoken": token, "username": username, "password": password})
    request = urllib.request.Request(url + "accounts/login/", data=data.encode(), headers={"Referer": url})
    landed = opener.open(request, timeout=30)
    return urllib.parse.urlsplit(landed.geturl()).path


def test_run_local_serves_on_port_and_prints_the_login_last_once_the_worker_is_up(tmp_path):
    port = _free_port()
    # As from a fresh shell: no DEBUG, no SECRET_KEY, no services; its own var/ (database, broker, media).
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "PORT": str(port),
        "SKINCLINIC_VAR_DIR": str(tmp_path / "var"),
        "TMPDIR": str(tmp_path),
    }
    process = subprocess.Popen(
        [str(ROOT / "scripts" / "run-local")],
        cwd=tmp_path,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(process.stdout.readline, "")), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 240
        while not any("Ctrl-C stops" in line for line in lines):
            assert process.poll() is None, "run-local stopped:\n" + "".join(lines[-40:])
            assert time.monotonic() < deadline, "no sign-in banner after 4 minutes:\n" + "".join(lines[-40:])
            time.sleep(0.5)
        output = list(lines)
        url = f"http://127.0.0.1:{port}/"
        banner = next(i for i, line in enumerate(output) if BANNER in line)
        assert output[banner].strip() == BANNER + url
        logins = [i for i, line in enumerate(output) if "username: demo" in line]
        assert len(logins) == 2 and logins[0] < banner < logins[1], "the login is printed at seeding and again last"
        loaded = [i for i, line in enumerate(output) if " loaded in worker process " in line]
        assert loaded and loaded[0] < banner, "the banner came before the worker had loaded the model"
        assert "not ready yet" not in "".join(output[banner:])

        password = re.search(r"password: (\S+)", output[logins[1]]).group(1)
        with urllib.request.urlopen(url + "healthz", timeout=30) as response:
            assert response.status == 200
        assert _sign_in(url, "demo", password) == "/"  # the dashboard: signed in
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C sends to the terminal's process group
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired as exc:
                os.killpg(process.pid, signal.SIGKILL)
                raise AssertionError("run-local did not stop within a minute of Ctrl-C") from exc
    time.sleep(1)
    group = subprocess.run(["ps", "-o", "pid=,stat=,cmd=", "-g", str(process.pid)], capture_output=True, text=True)
    # Exited processes not yet reaped (a container's init may never reap them) are not running: only those count.
    left = [line for line in group.stdout.splitlines() if line.split()[1][0] != "Z"]
    assert not left, "processes left running after Ctrl-C:\n" + "\n".join(left)
