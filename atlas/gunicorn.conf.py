"""Production server configuration (``make prod``; the benchmarks use it too).

Threaded workers keep client connections alive between requests (a sync worker
closes every connection after one response), so an API client that sends many
small requests, like single events or entitlement checks, pays for the TCP
handshake and connection setup once. Each thread has its own database
connection, kept for ``DB_CONN_MAX_AGE`` seconds. Eight threads a worker let
concurrent single events share a commit (``metering.grouping``); each worker
logs at exit how many events its group commits held.

Each worker asks CPython to offer the GIL every millisecond instead of every
5 ms (``PYTHON_SWITCH_INTERVAL``): a thread parsing a large batch then holds
up the thread that accepts the next request, or the leader of a group commit,
for at most 1 ms. Measured with ``bench/ingest.py`` (four runs, alternating):
single events +4 % and p99 -6 %, batches +4 to +9 %.
"""

import os

bind = os.environ.get("BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "8"))
timeout = 60
keepalive = 5
accesslog = os.environ.get("ACCESS_LOG") or None
errorlog = "-"
preload_app = True
raw_env = ["DJANGO_SETTINGS_MODULE=atlas.settings"]


def worker_exit(server, worker):
    from metering.grouping import SINGLE_EVENTS

    if SINGLE_EVENTS.groups:
        server.log.info(
            "worker %s: %d single events in %d group commits (%.2f per commit)",
            worker.pid, SINGLE_EVENTS.grouped, SINGLE_EVENTS.groups, SINGLE_EVENTS.grouped / SINGLE_EVENTS.groups,
        )


def post_fork(server, worker):
    import sys

    sys.setswitchinterval(float(os.environ.get("PYTHON_SWITCH_INTERVAL", "0.001")))
