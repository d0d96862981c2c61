"""Browser: create a customer with the form, subscribe it, read its upcoming invoice to the cent, change its plan
(preview, then confirm) and cancel a subscription (confirm) — all in Chromium, no API call."""

from decimal import Decimal

import pytest
from django.utils import timezone

from billing.credits.services import credit_grant_create
from billing.models import Invoice, Subscription
from billing.runs.engine import billing_run
from catalog.services import metric_create, plan_create, plan_publish
from customers.models import Customer
from metering.services import events_ingest

pytestmark = pytest.mark.browser


def _plans(merchant) -> None:
    """Pro: $49 a month in advance and API calls at $0.01; Basic: $19 a month."""
    calls = metric_create(merchant=merchant, code="api_calls", name="API calls", event_codes=["api_call"])
    for code, fee in (("pro", "49.00"), ("basic", "19.00")):
        plan = plan_create(merchant=merchant, code=code, name=code.title(), content={
            "currency": "USD", "base_fee": Decimal(fee),
            "charges": [{"metric": calls, "model": "per_unit", "params": {"unit_amount": "0.01"}}],
        })  # fmt: skip
        plan_publish(plan=plan)


def _texts(page, selector: str) -> list[str]:
    return [text.strip() for text in page.locator(selector).all_inner_texts()]


def test_staff_create_subscribe_read_the_upcoming_invoice_change_plan_and_cancel(logged_in, live_server):
    page, tenant = logged_in
    merchant = tenant.merchant
    _plans(merchant)

    # New customer, with the tax rate as a percentage.
    page.goto(f"{live_server.url}/customers/")
    page.click("text=New customer")
    page.get_by_label("External ID").fill("cus_wayne")
    page.get_by_label("Name", exact=True).fill("Wayne Enterprises")
    page.get_by_label("Email").fill("ap@wayne.example")
    page.get_by_label("Currency").fill("USD")
    page.get_by_label("Tax rate (%)").fill("120")
    page.click("button:has-text('Create customer')")
    assert page.inner_text("[data-field=tax_rate]") == "Enter a percentage between 0 and 100."
    assert not Customer.objects.filter(merchant=merchant).exists()
    page.get_by_label("Tax rate (%)").fill("20")
    page.click("button:has-text('Create customer')")
    page.wait_for_url(f"{live_server.url}/customers/cus_wayne/")
    assert Customer.objects.get(merchant=merchant).tax_rate == Decimal("0.2")
    assert "No upcoming invoice" in page.inner_text("[data-testid=upcoming-invoice]")

    # Subscribe: Pro from today, periods on the anniversary.
    page.click("a:has-text('Subscribe')")
    page.get_by_label("Plan", exact=True).select_option("pro")
    page.get_by_label("Billing anchor").select_option("anniversary")
    page.click("button:has-text('Subscribe')")
    page.wait_for_url(f"{live_server.url}/customers/cus_wayne/")
    assert "Subscribed to Pro v1" in page.inner_text(".messages")
    subscription = Subscription.objects.get(merchant=merchant)
    assert (subscription.external_id, subscription.billing_anchor) == ("sub_cus_wayne", "anniversary")

    # The opening invoice is issued by the night's run; then 300 calls and $1 of credit.
    billing_run(as_of=timezone.now(), merchant=merchant)
    assert Invoice.objects.get().total == Decimal("58.80")  # 49.00 + 20 %
    now = timezone.now().isoformat()
    result = events_ingest(merchant=merchant, payloads=[
        {"transaction_id": f"call-{n}", "customer": "cus_wayne", "code": "api_call", "timestamp": now}
        for n in range(300)
    ])  # fmt: skip
    assert result.rejected == 0
    credit_grant_create(merchant=merchant, customer=Customer.objects.get(), amount=Decimal("1.00"), currency="USD")

    page.reload()
    upcoming = "[data-testid=upcoming-invoice]"
    assert _texts(page, f"{upcoming} tbody td:nth-child(1)") == ["Pro base fee", "API calls"]
    assert _texts(page, f"{upcoming} tbody td:nth-child(3)") == ["49.00 USD", "3.00 USD"]
    totals = {name: page.inner_text(f"{upcoming} [data-testid={name}]").strip()
              for name in ("subtotal", "discounts", "credits", "tax", "total", "amount-due")}  # fmt: skip
    assert totals == {"subtotal": "52.00 USD", "discounts": "0.00 USD", "credits": "-1.00 USD",
                      "tax": "10.20 USD", "total": "61.20 USD", "amount-due": "61.20 USD"}  # fmt: skip

    # Change plan at period end: the preview first, nothing changes until it is confirmed.
    page.click("tr:has-text('sub_cus_wayne') >> text=Change plan")
    page.get_by_label("Plan", exact=True).select_option("basic")
    page.click("button:has-text('Preview')")
    previews = page.locator("[data-testid=preview] .upcoming-invoice")
    assert _texts(page, "[data-testid=preview] h3") == [
        "Final invoice of sub_cus_wayne", "First invoice of sub_cus_wayne-2 (Basic)"
    ]
    assert previews.nth(0).locator("[data-testid=total]").inner_text().strip() == "2.40 USD"  # 3.00 − 1.00 + 20 %
    assert previews.nth(1).locator("[data-testid=total]").inner_text().strip() == "22.80 USD"  # 19.00 + 20 %
    assert Subscription.objects.count() == 1 and Invoice.objects.count() == 1
    page.click("button:has-text('Confirm plan change')")
    page.wait_for_url(f"{live_server.url}/customers/cus_wayne/")
    new = Subscription.objects.get(previous=subscription)
    assert (new.external_id, new.plan_version.plan.code) == ("sub_cus_wayne-2", "basic")

    # Cancel the new subscription before it starts: confirm, then it ends the instant it would have started.
    page.click("tr:has-text('sub_cus_wayne-2') >> text=Cancel subscription")
    page.check("input[name=effective][value=immediately]")
    page.click("button:has-text('Preview')")
    assert "No invoice: nothing is billed by this change." in page.inner_text("[data-testid=preview]")
    new.refresh_from_db()
    assert new.ends_at is None
    page.click("button:has-text('Confirm cancellation')")
    page.wait_for_url(f"{live_server.url}/customers/cus_wayne/")
    new.refresh_from_db()
    assert new.ends_at == new.started_at and new.canceled_at is not None
    assert "sub_cus_wayne-2 is canceled" in page.inner_text(".messages")
