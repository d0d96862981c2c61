"""Payments in the cockpit and on documents: the invoice page's form, refunds, the Payments page, the bank import
page (preview, confirm, assign by hand), the customer page's section, and the PDF (payments, tax id, terms)."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from pypdf import PdfReader

from billing.invoices.pdf import invoice_pdf_bytes
from billing.models import BankTransaction, Invoice, Payment
from billing.payments.services import payment_record, payment_refund
from tests.billing.test_invoices_helpers import D, at
from tests.billing.test_payments import hundred, state
from tests.cockpit.builders import login, login_viewer

pytestmark = pytest.mark.django_db


@pytest.fixture
def invoice(tenant) -> Invoice:
    return hundred(tenant.merchant)


def pdf_lines(invoice) -> list[str]:
    invoice = Invoice.objects.get(pk=invoice.pk)
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(invoice_pdf_bytes(invoice))).pages)
    return [line.strip() for line in text.splitlines() if line.strip()]


def test_staff_record_a_payment_on_the_invoice_page_and_see_amount_due_drop(client, tenant, invoice):
    login(client, tenant)
    page = client.get(f"/invoices/{invoice.pk}/").content.decode()
    assert 'data-testid="payment-form"' in page and 'name="amount" inputmode="decimal" size="10" value="100.00"' in page
    response = client.post(f"/invoices/{invoice.pk}/payments/", {"amount": "30.00", "method": "check",
                                                                "paid_on": "2026-01-05", "reference": "chq 881"})
    assert response.status_code == 302
    assert state(invoice) == ("finalized", D("30.00"), D("70.00"))
    payment = Payment.objects.get()
    assert (payment.method, payment.reference, payment.paid_at, payment.actor_user, payment.actor_label) == (
        "check", "chq 881", at(2026, 1, 5), tenant.user, f"{tenant.user.get_username()} (cockpit)")  # fmt: skip
    page = client.get(f"/invoices/{invoice.pk}/").content.decode()
    assert "Payment of 30.00 USD recorded." in page
    assert '<td class="num" data-testid="amount-due">70.00 USD</td>' in page
    assert "Paid by check (chq 881) · Jan 5, 2026" in page


def test_a_bad_payment_form_changes_nothing_and_says_why(client, tenant, invoice):
    login(client, tenant)
    client.post(f"/invoices/{invoice.pk}/payments/", {"amount": "1.234", "method": "cash"})
    page = client.get(f"/invoices/{invoice.pk}/").content.decode()
    assert "Nothing changed: amount has more decimals than USD allows." in page
    assert Payment.objects.count() == 0


def test_viewers_cannot_record_refund_or_import(client, tenant, invoice):
    payment = payment_record(invoice=invoice, amount=D("10.00"), method="cash", actor="test")
    login_viewer(client, tenant)
    assert client.post(f"/invoices/{invoice.pk}/payments/", {"amount": "1.00", "method": "cash"}).status_code == 403
    assert client.post(f"/payments/{payment.pk}/refund/", {"amount": "1.00"}).status_code == 403
    assert client.post(f"/invoices/{invoice.pk}/mark-paid/").status_code == 403
    assert client.get("/payments/import/").status_code == 403
    assert client.get("/payments/").status_code == 200
    assert (Payment.objects.count(), state(invoice)) == (1, ("finalized", D("10.00"), D("90.00")))


def test_mark_paid_from_the_invoice_page_is_a_payment(client, tenant, invoice):
    login(client, tenant)
    client.post(f"/invoices/{invoice.pk}/mark-paid/")
    assert state(invoice)[0] == "paid"
    assert Payment.objects.get().source == "mark_paid"


def test_a_refund_from_the_invoice_page_reopens_the_invoice(client, tenant, invoice):
    payment = payment_record(invoice=invoice, amount=D("100.00"), method="card", actor="test")
    login(client, tenant)
    client.post(f"/payments/{payment.pk}/refund/", {"amount": "15.50", "reason": "outage"})
    assert state(invoice) == ("finalized", D("84.50"), D("15.50"))
    page = client.get(f"/invoices/{invoice.pk}/").content.decode()
    assert "Refund of 15.50 USD recorded." in page and "15.50 on" in page and "(outage)" in page


def test_the_payments_page_lists_and_filters(client, tenant, invoice):
    other = hundred(tenant.merchant, name="beta")
    payment_record(invoice=invoice, amount=D("10.00"), method="cash", actor="test", reference="r-acme")
    payment_record(invoice=other, amount=D("1234.50"), method="card", actor="test", reference="r-beta")
    login(client, tenant)
    page = client.get("/payments/").content.decode()
    assert "r-acme" in page and "r-beta" in page and "1,234.50 USD" in page
    assert '<a href="/payments/" class="active" aria-current="page">Payments</a>' in page
    filtered = client.get("/payments/?method=card").content.decode()
    assert "r-beta" in filtered and "r-acme" not in filtered
    assert "r-acme" in client.get("/payments/?customer=acme").content.decode()
    assert client.get("/payments/?paid_from=nope").status_code == 400


def test_another_merchants_payments_are_never_shown_or_changed(client, tenant, other_tenant, invoice):
    payment = payment_record(invoice=invoice, amount=D("10.00"), method="cash", actor="test", reference="secret")
    login(client, other_tenant)
    assert "secret" not in client.get("/payments/").content.decode()
    assert client.post(f"/payments/{payment.pk}/refund/", {"amount": "1.00"}).status_code == 404
    assert client.post(f"/invoices/{invoice.pk}/payments/", {"amount": "1.00", "method": "cash"}).status_code == 404
    assert Payment.objects.get().amount_refunded == D("0")


def test_the_customer_page_shows_the_customers_payments(client, tenant, invoice):
    payment_record(invoice=invoice, amount=D("42.00"), method="bank_transfer", actor="test", reference="wire-42",
                   paid_at=at(2026, 1, 7))  # fmt: skip
    login(client, tenant)
    page = client.get("/customers/acme/").content.decode()
    assert 'data-testid="customer-payments"' in page and "wire-42" in page and "Jan 7, 2026" in page
    assert "42.00 USD" in page


def test_the_bank_import_page_previews_then_imports_and_staff_assign_the_rest(client, tenant, invoice):
    beta = hundred(tenant.merchant, name="beta")
    login(client, tenant)
    text = "date,amount,currency,reference\n2026-01-10,100.00,USD,INV-2026-000001\n2026-01-11,77.00,USD,who?\n"
    preview = client.post("/payments/import/", {"file": SimpleUploadedFile("s.csv", text.encode())})
    assert preview.status_code == 200
    assert [(r["status"], r["invoice_number"]) for r in preview.context["preview"]["rows"]] == [
        ("matched", "INV-2026-000001"), ("unmatched", None)]  # fmt: skip
    assert (Payment.objects.count(), BankTransaction.objects.count()) == (0, 0)
    client.post("/payments/import/", {"token": preview.context["token"]})
    assert state(invoice)[0] == "paid"
    line = BankTransaction.objects.get(status="unmatched")
    page = client.get("/payments/import/").content.decode()
    assert "INV-2026-000002 · Beta Inc. · 100.00 due" in page
    client.post(f"/payments/bank/{line.pk}/assign/", {"invoice": beta.pk})
    assert state(beta) == ("finalized", D("77.00"), D("23.00"))
    line.refresh_from_db()
    assert (line.status, line.matched_by) == ("matched", "hand")


def test_the_pdf_shows_payments_refunds_tax_id_terms_and_instructions(tenant):
    merchant = tenant.merchant
    merchant.payment_instructions = "IBAN DE89 3704 0044 0532 0130 00"
    merchant.payment_terms_days = 14
    merchant.save()
    invoice = hundred(merchant, tax_id="DE136695976", payment_terms_days=45)
    assert invoice.due_at == at(2026, 2, 15)
    payment = payment_record(invoice=invoice, amount=D("120.00"), method="bank_transfer", actor="test",
                             reference="INV-2026-000001", paid_at=at(2026, 1, 10))  # fmt: skip
    payment_refund(payment=payment, amount=D("5.00"), actor="test", refunded_at=at(2026, 1, 12))
    lines = pdf_lines(invoice)
    assert "Tax ID: DE136695976" in lines
    assert "Payment terms: net 45 days" in lines
    assert "IBAN DE89 3704 0044 0532 0130 00" in lines
    assert "Please quote INV-2026-000001 as the payment reference." in lines
    assert "Paid by bank transfer (INV-2026-000001) Jan 10, 2026 -120.00" in lines
    assert "Added to your credit balance Jan 10, 2026 20.00" in lines
    assert "Refund Jan 12, 2026 5.00" in lines
    assert "Amount due 5.00 USD" in lines
