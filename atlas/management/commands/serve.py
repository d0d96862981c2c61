"""Run Atlas for a person at a keyboard: migrate, demo data once, web server and jobs together."""

import os
import signal
import socket
import subprocess
import sys
import time

from django.core.management import call_command, get_commands
from django.core.management.base import BaseCommand
from django.db import transaction

from atlas.models import ApiKey, Merchant
from atlas.services import api_key_create, api_key_revoke, merchant_create

DEMO_EMAIL = "demo@atlas.test"
DEMO_PASSWORD = "atlas-demo-password"
RUN_KEY_NAME = "make run (demo)"


class Command(BaseCommand):
    help = "Migrate, load demo data on first run, then run the web server and the django-q2 cluster together."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", default=os.environ.get("PORT", "8000"))
        parser.add_argument("--no-jobs", action="store_true", help="Do not start the django-q2 cluster.")

    def handle(self, *args, host, port, no_jobs, **options):
        call_command("migrate", interactive=False, verbosity=0)
        merchant = self._demo_merchant()
        secret = self._fresh_demo_key(merchant)

        python = sys.executable
        self.stdout.write("Starting the web server" + ("" if no_jobs else " and the jobs cluster") + "…")
        self.stdout.flush()
        # runserver's banner goes to stdout, which is dropped: the lines below say where Atlas is. Its request log
        # and errors go to stderr and still show, after them.
        processes = [
            subprocess.Popen([python, "manage.py", "runserver", f"{host}:{port}", "--noreload", "--skip-checks"],
                             stdout=subprocess.DEVNULL),
        ]  # fmt: skip
        if not no_jobs:
            processes.append(subprocess.Popen([python, "manage.py", "qcluster"], stdout=subprocess.DEVNULL))

        url = f"http://{host}:{port}/"
        self._wait_until_listening(host, int(port), processes[0])
        for line in self.banner(url=url, secret=secret):
            self.stdout.write(line)
        self.stdout.flush()

        def stop(*_):
            for process in processes:
                if process.poll() is None:
                    process.terminate()

        signal.signal(signal.SIGTERM, stop)
        try:
            while all(process.poll() is None for process in processes):
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            stop()
            for process in processes:
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()

    def banner(self, *, url: str, secret: str) -> list[str]:
        """What a person needs, with the URL, the login and the key as the last three lines (nothing the server
        prints at start comes after them)."""
        return [
            "",
            f"API docs: {url}api/v1/schema/",
            f"Try:      curl -H 'Authorization: Bearer {secret}' {url}api/v1/merchant",
            "Stop with Ctrl-C.",
            self.style.SUCCESS("Atlas is running."),
            f"  Cockpit:  {url}",
            f"  Login:    {DEMO_EMAIL} / {DEMO_PASSWORD}",
            f"  API key:  {secret}",
        ]

    def _wait_until_listening(self, host: str, port: int, server: subprocess.Popen, seconds: int = 60) -> None:
        """Print the URL only once it answers, so the first click never meets a refused connection."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and server.poll() is None:
            try:
                with socket.create_connection((host, port), timeout=1):
                    return
            except OSError:
                time.sleep(0.2)

    def _demo_merchant(self) -> Merchant:
        """The first run loads the demo (``seed_demo`` when available); later runs keep the data."""
        merchant = Merchant.objects.filter(memberships__user__username=DEMO_EMAIL).first()
        if merchant is not None:
            return merchant
        if "seed_demo" in get_commands():
            self.stdout.write("First run: loading the demo data (about a minute; each stage is shown as it ends)…")
            self.stdout.flush()
            call_command("seed_demo", email=DEMO_EMAIL, password=DEMO_PASSWORD, stdout=self.stdout)
            return Merchant.objects.get(memberships__user__username=DEMO_EMAIL)
        merchant, _, _ = merchant_create(name="Demo Merchant", email=DEMO_EMAIL, password=DEMO_PASSWORD)
        return merchant

    @transaction.atomic
    def _fresh_demo_key(self, merchant: Merchant) -> str:
        """Keys are stored hashed, so each start replaces the run's demo key with a new one it can print."""
        for key in ApiKey.objects.active().filter(merchant=merchant, name=RUN_KEY_NAME):
            api_key_revoke(key=key)
        _, secret = api_key_create(merchant=merchant, name=RUN_KEY_NAME)
        return secret
