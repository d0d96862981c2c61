"""Screenshots of the main cockpit pages for the README, on the demo data (``docs/screenshots/<page>.png``).

Skipped unless ``ATLAS_SCREENSHOTS=1``: it loads the demo (a minute of work) and rewrites committed files.

    ATLAS_SCREENSHOTS=1 .venv/bin/python -m pytest tests/browser/test_screenshots.py
"""

import os
from pathlib import Path

import pytest
from django.urls import reverse

from billing.demo import demo_seed
from billing.models import Invoice
from customers.models import Customer

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(os.environ.get("ATLAS_SCREENSHOTS") != "1", reason="set ATLAS_SCREENSHOTS=1 to refresh them"),
]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
EMAIL, PASSWORD = "demo@atlas.test", "atlas-demo-password"
SCALE = float(os.environ.get("ATLAS_SCREENSHOTS_SCALE", "0.5"))
# Chart.js draws with an animation: switch it off as the library loads, so a capture shows the finished chart.
NO_CHART_ANIMATION = """
(() => {
  let chart;
  Object.defineProperty(window, "Chart", {
    configurable: true,
    get() { return chart; },
    set(value) { chart = value; if (value && value.defaults) { value.defaults.animation = false; } },
  });
})();
"""


def test_capture_the_main_pages(page, live_server, transactional_db, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    merchant = demo_seed(email=EMAIL, password=PASSWORD, scale=SCALE)
    customer = Customer.objects.get(merchant=merchant, external_id="cus_massive_dynamic")
    invoice = (
        Invoice.objects.filter(merchant=merchant, customer=customer, status__in=["finalized", "paid"])
        .order_by("-issued_at")
        .first()
    )
    pages = {
        "dashboard": reverse("cockpit:dashboard"),
        "customers": reverse("cockpit:customers"),
        "customer": reverse("cockpit:customer", kwargs={"external_id": customer.external_id}),
        "plan": reverse("cockpit:plan", kwargs={"code": "scale"}),
        "invoice": reverse("cockpit:invoice", kwargs={"pk": invoice.pk}),
        "events": reverse("cockpit:events"),
        "analytics": reverse("cockpit:analytics"),
        "settings": reverse("cockpit:settings"),
        "metrics": reverse("cockpit:metrics"),
        "payments": reverse("cockpit:payments"),
        "receivables": reverse("cockpit:receivables"),
        "billing-rules": reverse("cockpit:billing-rules"),
        "team": reverse("cockpit:team"),
        "audit-log": reverse("cockpit:audit-log"),
    }

    page.add_init_script(NO_CHART_ANIMATION)
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", EMAIL)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for name, path in pages.items():
        response = page.goto(f"{live_server.url}{path}")
        assert response.status == 200, (name, response.status)
        page.wait_for_load_state("networkidle")
        target = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(target))
        assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
