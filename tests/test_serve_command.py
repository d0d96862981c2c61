"""``make run`` (``manage.py serve``): quiet start, the URL, the login and a working API key as the last lines."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def demo_database(tmp_path):
    """A SQLite file migrated with the demo login already there, so serve skips loading the demo."""
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", "MEDIA_ROOT": str(tmp_path / "m"),
           "PYTHONUNBUFFERED": "1"}  # fmt: skip
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=300)
    subprocess.run(
        [sys.executable, "manage.py", "create_merchant", "Demo", "--email", "demo@atlas.test",
         "--password", "atlas-demo-password"],
        cwd=ROOT, env=env, check=True, timeout=120, capture_output=True,
    )  # fmt: skip
    return env


def test_serve_ends_with_the_url_the_login_and_a_working_key(demo_database):
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--port", str(port)], cwd=ROOT, env=demo_database,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip("\n"))
            if line.startswith("  API key:"):
                break
        time.sleep(3)  # anything the web server or the jobs cluster prints at start would come now
        key = lines[-1].split()[-1]
        request = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/merchant",
                                         headers={"Authorization": f"Bearer {key}"})  # fmt: skip
        with urllib.request.urlopen(request, timeout=30) as response:
            assert json.load(response)["name"] == "Demo"
        time.sleep(0.5)
        process.terminate()
        rest, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    url = f"http://127.0.0.1:{port}/"
    assert lines[-3:-1] == [f"  Cockpit:  {url}", "  Login:    demo@atlas.test / atlas-demo-password"], lines
    assert lines[-1].startswith("  API key:  atlas_")
    # After the key, only the request log: nothing the web server or the jobs cluster says at start.
    assert [line for line in rest.splitlines() if line.strip()] == [
        line for line in rest.splitlines() if '"GET /api/v1/merchant HTTP/1.1" 200' in line
    ], rest
    assert '"GET /api/v1/merchant HTTP/1.1" 200' in rest
    output = "\n".join(lines)
    assert "HarfBuzz" not in output and "Starting development server" not in output
    assert len(lines) <= 12, output
