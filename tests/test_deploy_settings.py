"""Production settings: `check --deploy` with DEBUG=0 is clean, and each protection can be turned off."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": "n7#Qp2!vX9$kL4@wR8%tY1^zB6&cM3*jH5(dF0)sG-aE+uI=oP" * 2,
    "ALLOWED_HOSTS": "atlas.example.com",
}


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    # A clean environment, as a deployment has: not the test run's (the browser tests set
    # DJANGO_ALLOW_ASYNC_UNSAFE, which check --deploy rightly reports).
    environ = {key: os.environ[key] for key in ("PATH", "HOME", "DATABASE_URL") if key in os.environ}
    environ.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=300
    )


def setting(name: str, **env: str) -> str:
    code = f"from django.conf import settings; print(repr(settings.{name}))"
    return manage("shell", "-c", code, **env).stdout.strip().splitlines()[-1]  # after shell's import notice


def test_check_deploy_with_debug_off_reports_no_warnings():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert (result.returncode, result.stdout.strip(), result.stderr) == (
        0,
        "System check identified no issues (0 silenced).",
        "",
    )


def test_each_https_protection_is_on_in_production():
    assert setting("SECURE_HSTS_SECONDS", **PRODUCTION) == "31536000"
    assert setting("SECURE_SSL_REDIRECT", **PRODUCTION) == "True"
    assert setting("SESSION_COOKIE_SECURE", **PRODUCTION) == "True"
    assert setting("CSRF_COOKIE_SECURE", **PRODUCTION) == "True"
    assert setting("SECURE_PROXY_SSL_HEADER", **PRODUCTION) == "('HTTP_X_FORWARDED_PROTO', 'https')"


@pytest.mark.parametrize(
    ("variable", "code"),
    [
        ("SECURE_HSTS_SECONDS", "security.W004"),
        ("SECURE_SSL_REDIRECT", "security.W008"),
        ("SESSION_COOKIE_SECURE", "security.W012"),
        ("CSRF_COOKIE_SECURE", "security.W016"),
    ],
)
def test_the_environment_can_turn_each_off_and_check_deploy_says_so(variable, code):
    result = manage("check", "--deploy", **PRODUCTION, **{variable: "0"})
    assert f"({code})" in result.stderr
    assert result.stderr.count("(security.W") == 1


def test_development_runs_on_plain_http():
    env = {"DEBUG": "1"}
    assert setting("SECURE_SSL_REDIRECT", **env) == "False"
    assert setting("SECURE_HSTS_SECONDS", **env) == "0"
    assert setting("SESSION_COOKIE_SECURE", **env) == "False"
    assert setting("SECURE_PROXY_SSL_HEADER", **env) == "None"
