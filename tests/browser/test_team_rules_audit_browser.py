"""Browser: an admin invites a team member (a real SMTP server receives the e-mail), adds a billing rule and sees
what it excludes today, changes a customer's go-live date, then reads who changed what in the audit log."""

import re

import pytest

from atlas.models import AuditEntry, Membership
from customers.models import BillingRule, Customer
from tests.cockpit.builders import customer
from tests.team.conftest import smtp  # noqa: F401  (the fixture: a real aiosmtpd server)

pytestmark = pytest.mark.browser


def test_team_billing_rules_and_the_audit_log_in_the_browser(logged_in, live_server, smtp):  # noqa: F811
    page, tenant = logged_in
    customer(tenant.merchant, "sandbox-test", name="Sandbox")
    customer(tenant.merchant, "globex", name="Globex")

    page.click("nav >> text=Team")
    page.wait_for_url(f"{live_server.url}/team/")
    page.fill("input[name=email]", "ann@acme.test")
    page.select_option("select[name=role]", "viewer")
    page.click("button:has-text('Send invitation')")
    page.wait_for_url(f"{live_server.url}/team/")
    row = page.locator("tr[data-member='ann@acme.test']").inner_text()
    assert "Viewer" in row and "invitation sent" in row
    (recipients, message), = smtp.messages
    assert recipients == ["ann@acme.test"]
    assert re.search(r"/set-password/\S+/", message.get_payload(decode=True).decode())
    assert Membership.objects.get(user__username="ann@acme.test").role == "viewer"

    page.click("nav >> text=Billing rules")
    page.wait_for_url(f"{live_server.url}/billing-rules/")
    form = page.locator("form.rule-form")
    form.locator("input[name=name]").fill("Sandboxes")
    form.locator("select[name=target]").select_option("customer")
    form.locator("input[name=pattern]").fill("*-test")
    form.locator("button:has-text('Add rule')").click()
    page.wait_for_url(f"{live_server.url}/billing-rules/")
    rule = BillingRule.objects.get(merchant=tenant.merchant)
    excludes = page.locator(f"tr[data-rule='{rule.pk}'] td.matches").inner_text()
    assert excludes.strip() == "1 customer: Sandbox (sandbox-test)"

    window = page.locator("form.window-form")
    window.locator("input[name=customer]").fill("globex")
    window.locator("input[name=billing_starts_on]").fill("2027-01-01")
    window.locator("button:has-text('Save')").click()
    page.wait_for_url(f"{live_server.url}/billing-rules/")
    assert "Globex (globex) from 2027-01-01" in page.locator("#customer-rules").inner_text()
    assert str(Customer.objects.get(merchant=tenant.merchant, external_id="globex").billing_starts_on) == "2027-01-01"

    page.click("nav >> text=Audit log")
    page.wait_for_url(f"{live_server.url}/audit-log/")
    log = page.locator("table.audit-log > tbody").inner_text()
    assert "Sandboxes" in log and "*-test" in log
    assert "Globex" in log and "2027-01-01" in log
    assert "ann@acme.test" in log
    entry = AuditEntry.objects.filter(content_type__model="billingrule").get()
    assert entry.actor_id == tenant.user.pk and entry.merchant_id == tenant.merchant.pk
    go_live = AuditEntry.objects.filter(content_type__model="customer", object_pk=str(
        Customer.objects.get(external_id="globex").pk)).order_by("pk").last()  # fmt: skip
    assert go_live.changes["billing_starts_on"] == ["None", "2027-01-01"]
    assert go_live.actor_label == AuditEntry.objects.filter(content_type__model="billingrule").get().actor_label
