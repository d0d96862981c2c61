"""The production server configuration (atlas/gunicorn.conf.py), read as gunicorn reads it."""

import runpy
import sys
from pathlib import Path

import pytest

CONF = Path(__file__).resolve().parent.parent / "atlas" / "gunicorn.conf.py"


@pytest.fixture
def restore_switch_interval():
    before = sys.getswitchinterval()
    yield
    sys.setswitchinterval(before)


def test_threaded_workers_from_the_environment(monkeypatch):
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    monkeypatch.setenv("WEB_THREADS", "5")
    monkeypatch.setenv("BIND", "127.0.0.1:9123")
    conf = runpy.run_path(str(CONF))
    assert (conf["worker_class"], conf["workers"], conf["threads"], conf["bind"]) == ("gthread", 3, 5, "127.0.0.1:9123")


def test_defaults(monkeypatch):
    for name in ("WEB_CONCURRENCY", "WEB_THREADS", "BIND"):
        monkeypatch.delenv(name, raising=False)
    conf = runpy.run_path(str(CONF))
    assert (conf["workers"], conf["threads"], conf["bind"]) == (2, 8, "127.0.0.1:8000")


def test_each_worker_offers_the_gil_every_millisecond(monkeypatch, restore_switch_interval):
    monkeypatch.delenv("PYTHON_SWITCH_INTERVAL", raising=False)
    sys.setswitchinterval(0.005)
    runpy.run_path(str(CONF))["post_fork"](None, None)
    assert sys.getswitchinterval() == pytest.approx(0.001)


def test_switch_interval_from_the_environment(monkeypatch, restore_switch_interval):
    monkeypatch.setenv("PYTHON_SWITCH_INTERVAL", "0.0025")
    runpy.run_path(str(CONF))["post_fork"](None, None)
    assert sys.getswitchinterval() == pytest.approx(0.0025)
