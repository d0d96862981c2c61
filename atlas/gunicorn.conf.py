"""Production server configuration (``make prod``; the benchmarks use it too)."""

import os

bind = os.environ.get("BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "sync"
threads = 1
timeout = 60
keepalive = 5
accesslog = os.environ.get("ACCESS_LOG") or None
errorlog = "-"
preload_app = True
raw_env = ["DJANGO_SETTINGS_MODULE=atlas.settings"]
