"""Browser: staff record a payment on the invoice page and see the amount due drop."""

from decimal import Decimal

import pytest

from billing.models import Invoice, Payment
from tests.billing.test_payments import hundred

pytestmark = pytest.mark.browser


def test_staff_record_a_partial_payment_on_the_invoice_page(logged_in, live_server):
    page, tenant = logged_in
    invoice = hundred(tenant.merchant)

    page.click("text=Payments")
    page.wait_for_url(f"{live_server.url}/payments/")
    page.goto(f"{live_server.url}/invoices/{invoice.pk}/")
    assert page.inner_text("[data-testid=amount-due]") == "100.00 USD"
    form = page.locator("[data-testid=payment-form]")
    form.locator("input[name=amount]").fill("30.00")
    form.locator("select[name=method]").select_option("bank_transfer")
    form.locator("input[name=reference]").fill("WIRE-77")
    form.locator("button:has-text('Record payment')").click()
    page.wait_for_url(f"{live_server.url}/invoices/{invoice.pk}/")
    assert "Payment of 30.00 USD recorded." in page.inner_text("main")
    assert page.inner_text("[data-testid=amount-due]") == "70.00 USD"
    row = page.locator("[data-testid=payments] tbody tr").first.inner_text()
    assert "WIRE-77" in row and "30.00" in row
    invoice.refresh_from_db()
    assert (invoice.status, invoice.amount_paid, invoice.amount_due) == ("finalized", Decimal("30.00"),
                                                                         Decimal("70.00"))  # fmt: skip
    assert Payment.objects.get().actor_user == tenant.user
    assert Invoice.objects.get(pk=invoice.pk).audit.last().note.endswith("30.00 USD by bank_transfer")
