"""Admin list pages fit a 1280 px window: nothing is cut off at the right edge."""

import pytest
from django.contrib.auth import get_user_model

from tests.conftest import Tenant
from tests.tenancy_data import populate

pytestmark = pytest.mark.browser

PAGES = [
    "/admin/customers/customer/",
    "/admin/billing/invoice/",
    "/admin/billing/subscription/",
    "/admin/atlas/auditentry/",
    "/admin/catalog/planversion/",
    "/admin/metering/event/",
]


def test_admin_lists_are_not_cut_off_at_1280_px(page, live_server, transactional_db):
    populate(Tenant("A Merchant With A Rather Long Company Name", "owner@long.test").merchant)
    get_user_model().objects.create_superuser("root", "root@atlas.test", "pw-root-123")
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("input[name=username]", "root")
    page.fill("input[name=password]", "pw-root-123")
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")
    for path in PAGES:
        page.goto(f"{live_server.url}{path}")
        assert page.locator("#result_list").count() == 1, path
        widths = page.evaluate(
            "() => ({page: document.documentElement.scrollWidth,"
            " table: document.querySelector('#result_list').getBoundingClientRect().right})"
        )
        assert widths["page"] <= 1280, (path, widths)
        assert widths["table"] <= 1280, (path, widths)
