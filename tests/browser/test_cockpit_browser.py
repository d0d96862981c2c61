"""Browser tests of the cockpit: the CSV upload with row errors then a fixed file, a customer's live usage, an
invoice's PDF download, a credit note issued from the invoice page. The data is written through the services, as
the API would."""

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.models import Invoice
from billing.runs.engine import billing_run
from billing.subscriptions.services import subscription_create
from catalog.services import metric_create, plan_create, plan_publish
from customers.models import Customer
from customers.services import customer_create
from metering.services import events_ingest

pytestmark = pytest.mark.browser

BAD_CSV = (
    b"external_id,name,email,currency\n"
    b"cus_alpha,Alpha Ltd,billing@alpha.example,USD\n"
    b"cus_beta,Beta GmbH,not-an-email,EUR\n"
)
GOOD_CSV = BAD_CSV.replace(b"not-an-email", b"billing@beta.example")


def upload(page, data: bytes) -> None:
    page.set_input_files("input[name=file]", files=[{"name": "customers.csv", "mimeType": "text/csv", "buffer": data}])
    page.click("button:has-text('Preview')")


def test_staff_upload_a_csv_see_the_row_error_then_import_the_fixed_file(logged_in, live_server):
    page, tenant = logged_in
    page.goto(f"{live_server.url}/customers/import/")

    upload(page, BAD_CSV)
    errors = page.locator("[data-testid=errors] tbody tr")
    assert errors.count() == 1
    cells = [cell.strip() for cell in errors.first.locator("td").all_inner_texts()]
    assert cells[:2] == ["3", "email"]
    assert not Customer.objects.filter(merchant=tenant.merchant).exists()

    upload(page, GOOD_CSV)
    assert "2 rows: 2 to create, 0 to update, 0 unchanged." in page.inner_text("[data-testid=counts]")
    assert not Customer.objects.filter(merchant=tenant.merchant).exists()  # a preview writes nothing
    page.click("button:has-text('Import 2 rows')")
    page.wait_for_selector("text=Imported 2 rows: 2 created")
    assert sorted(Customer.objects.filter(merchant=tenant.merchant).values_list("external_id", "email")) == [
        ("cus_alpha", "billing@alpha.example"),
        ("cus_beta", "billing@beta.example"),
    ]

    page.goto(f"{live_server.url}/customers/")
    listing = page.inner_text("main")
    assert "Alpha Ltd" in listing and "Beta GmbH" in listing


def _subscribed_customer_with_usage(merchant, calls: int) -> datetime:
    """A published plan, a customer subscribed since today, and ``calls`` API calls so far today."""
    metric = metric_create(merchant=merchant, code="api_calls", name="API calls", event_codes=["api_call"])
    plan = plan_create(
        merchant=merchant,
        code="pro",
        name="Pro",
        content={
            "currency": "USD",
            "base_fee": Decimal("49.00"),
            "charges": [{"metric": metric, "model": "per_unit", "params": {"unit_amount": "0.01"}}],
        },
    )
    plan_publish(plan=plan)
    customer_create(merchant=merchant, external_id="cus_wayne", name="Wayne Enterprises")
    now = timezone.now()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    subscription_create(
        merchant=merchant, external_id="sub_wayne", customer="cus_wayne", plan="pro", start_date=midnight.date()
    )
    step = (now - midnight) / (calls + 1)
    result = events_ingest(
        merchant=merchant,
        payloads=[
            {
                "transaction_id": f"call-{n}",
                "customer": "cus_wayne",
                "code": "api_call",
                "timestamp": (midnight + step * (n + 1)).isoformat(),
            }
            for n in range(calls)
        ],
    )
    assert result.accepted == calls
    return now


def test_staff_open_a_customer_and_see_its_usage_this_period(logged_in, live_server):
    page, tenant = logged_in
    _subscribed_customer_with_usage(tenant.merchant, calls=42)

    page.click("text=Customers")
    page.click("text=Wayne Enterprises")
    page.wait_for_url(f"{live_server.url}/customers/cus_wayne/")
    usage = page.locator("[data-testid=usage-sub_wayne] tbody tr").first
    cells = [cell.strip() for cell in usage.locator("td").all_inner_texts()]
    assert cells[0].startswith("api_calls")
    assert cells[1:] == ["42", "42", "0.42 USD"]


def test_staff_open_an_invoice_and_download_its_pdf(logged_in, live_server, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    page, tenant = logged_in
    now = _subscribed_customer_with_usage(tenant.merchant, calls=3)
    billing_run(as_of=now + timedelta(seconds=1), merchant=tenant.merchant)
    invoice = Invoice.objects.get(merchant=tenant.merchant)
    assert invoice.status == Invoice.Status.FINALIZED

    page.click("text=Invoices")
    page.click(f"text={invoice.number}")
    page.wait_for_url(f"{live_server.url}/invoices/{invoice.pk}/")
    assert "Wayne Enterprises" in page.inner_text("main")
    link = page.locator("a:has-text('Download PDF')")
    href = link.get_attribute("href")
    # Chromium opens the PDF in its viewer: the click's response is the file's headers, the viewer wraps the body.
    with page.expect_response(lambda response: response.url.endswith(href)) as info:
        link.click()
    assert info.value.status == 200
    assert info.value.headers["content-type"] == "application/pdf"
    assert f'filename="{invoice.number}.pdf"' in info.value.headers["content-disposition"]
    # The bytes, fetched as the browser's "save" does: with the logged-in session.
    download = page.context.request.get(f"{live_server.url}{href}")
    assert download.ok
    assert download.body()[:4] == b"%PDF"


def test_staff_issue_a_credit_note_from_the_invoice_page(logged_in, live_server):
    page, tenant = logged_in
    now = _subscribed_customer_with_usage(tenant.merchant, calls=3)
    billing_run(as_of=now + timedelta(seconds=1), merchant=tenant.merchant)
    invoice = Invoice.objects.get(merchant=tenant.merchant)
    base_fee = invoice.lines.get(type="base_fee")  # 49.00, prorated by the days left in the month: at least 1.58
    due = invoice.amount_due

    page.goto(f"{live_server.url}/invoices/{invoice.pk}/")
    page.fill(f"#amount_{base_fee.pk}", "1.00")
    page.select_option("select[name=reason]", "billing_error")
    page.fill("input[name=memo]", "Goodwill for the outage")
    page.click("button:has-text('Issue credit note')")
    page.wait_for_url(f"{live_server.url}/invoices/{invoice.pk}/")
    number = f"INV-CN-{timezone.now().year}-000001"
    assert f"Credit note {number} issued: 1.00 USD." in page.inner_text("main")
    row = page.locator("#credit-notes tbody tr").first.inner_text()
    assert number in row and "Goodwill for the outage" in row and "1.00" in row
    assert page.inner_text("[data-testid=amount-due]") == f"{due - Decimal('1.00'):.2f} USD"
    invoice.refresh_from_db()
    assert (invoice.credited, invoice.amount_due) == (Decimal("1.00"), due - Decimal("1.00"))
