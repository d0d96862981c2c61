"""Payments (SPEC §11.2): partial, exact and over payments, refunds, mark_paid as a payment, the states that take
none, concurrency, and the REST API."""

import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections

from billing.invoices.selectors import invoice_settlement
from billing.invoices.services import IllegalTransition, invoice_void
from billing.models import CreditGrant, CreditLedgerEntry, Invoice, InvoiceEvent, Payment, Refund
from billing.payments.services import invoice_mark_paid, payment_record, payment_refund
from billing.runs.engine import billing_run
from metering.provisioning import Actor
from tests.billing.test_invoices_helpers import D, at, customer, plan, subscribe
from tests.conftest import Tenant

pytestmark = pytest.mark.django_db


def hundred(merchant, *, name: str = "acme", amount: str = "100.00", grace_hours: int = 0,
            currency: str = "USD", **customer_fields) -> Invoice:  # fmt: skip
    """A finalized invoice of exactly ``amount`` (an in-advance base fee, no tax), issued Jan 1, 2026."""
    merchant.invoice_grace_hours = grace_hours
    merchant.save()
    version = plan(merchant, f"flat-{name}", base_fee=amount, timing="in_advance", currency=currency)
    cust = customer(merchant, name, currency=currency, **customer_fields)
    subscribe(merchant, cust, version, at(2026, 1, 1), external_id=f"{name}-sub")
    billing_run(as_of=at(2026, 1, 1, 12))
    return Invoice.objects.get(customer=cust)


@pytest.fixture
def invoice(tenant) -> Invoice:
    found = hundred(tenant.merchant)
    assert (found.status, found.total, found.amount_due, found.amount_paid) == (
        "finalized", D("100.00"), D("100.00"), D("0"))  # fmt: skip
    return found


def pay(invoice, amount, **kwargs) -> Payment:
    kwargs.setdefault("method", "bank_transfer")
    kwargs.setdefault("actor", "test")
    kwargs.setdefault("paid_at", at(2026, 1, 10))
    return payment_record(invoice=invoice, amount=D(amount), **kwargs)


def state(invoice) -> tuple:
    invoice.refresh_from_db()
    return invoice.status, invoice.amount_paid, invoice.amount_due


def test_a_partial_payment_reduces_what_is_due_and_the_invoice_stays_finalized(invoice):
    payment = pay(invoice, "30.00", reference="wire 1")
    assert state(invoice) == ("finalized", D("30.00"), D("70.00"))
    assert (payment.amount, payment.amount_applied, payment.amount_credited, payment.credit_grant) == (
        D("30.00"), D("30.00"), D("0"), None)  # fmt: skip
    assert (payment.currency, payment.customer_id, payment.source, payment.actor_label) == (
        "USD", invoice.customer_id, "manual", "test")  # fmt: skip
    audit = invoice.audit.order_by("pk").last()
    assert (audit.from_state, audit.to_state, audit.note) == (
        "finalized", "finalized", f"payment {payment.pk}: 30.00 USD by bank_transfer")  # fmt: skip


def test_paying_the_rest_pays_the_invoice_at_the_payment_date(invoice):
    pay(invoice, "30.00")
    pay(invoice, "70.00", paid_at=at(2026, 1, 20), method="card")
    assert state(invoice) == ("paid", D("100.00"), D("0.00"))
    assert invoice.paid_at == at(2026, 1, 20)
    assert [(r.label, r.amount) for r in invoice_settlement(invoice)] == [
        ("Paid by bank transfer", D("-30.00")), ("Paid by card", D("-70.00"))]  # fmt: skip


def test_an_overpayment_pays_the_invoice_and_the_excess_becomes_customer_credit(tenant, invoice):
    payment = pay(invoice, "120.00")
    assert state(invoice) == ("paid", D("100.00"), D("0.00"))
    assert (payment.amount_applied, payment.amount_credited) == (D("100.00"), D("20.00"))
    grant = CreditGrant.objects.get()
    assert (grant.pk, grant.amount, grant.currency, grant.granted_at, grant.customer_id) == (
        payment.credit_grant_id, D("20.00"), "USD", at(2026, 1, 10), invoice.customer_id)  # fmt: skip
    assert grant.reason == "Overpayment of invoice INV-2026-000001"
    credits = tenant.api.get("/api/v1/customers/acme/credits").json()
    assert (credits["currency"], credits["balance"], credits["available_balance"]) == ("USD", "20.00", "20.00")
    assert [(r.label, r.amount) for r in invoice_settlement(invoice)] == [
        ("Paid by bank transfer", D("-120.00")), ("Added to your credit balance", D("20.00"))]  # fmt: skip


def test_a_refund_reopens_a_paid_invoice_with_that_amount_due(invoice):
    payment = pay(invoice, "100.00")
    refund = payment_refund(payment=payment, amount=D("40.00"), reason="service outage", actor="test",
                            refunded_at=at(2026, 1, 15))  # fmt: skip
    assert state(invoice) == ("finalized", D("60.00"), D("40.00"))
    assert invoice.paid_at is None
    payment.refresh_from_db()
    assert (payment.amount_refunded, refund.amount, refund.currency, refund.reason) == (
        D("40.00"), D("40.00"), "USD", "service outage")  # fmt: skip
    assert [(r.label, r.amount) for r in invoice_settlement(invoice)] == [
        ("Paid by bank transfer", D("-100.00")), ("Refund", D("40.00"))]  # fmt: skip
    with pytest.raises(ValidationError) as error:
        payment_refund(payment=payment, amount=D("60.01"), actor="test")
    assert error.value.message_dict == {"amount": [
        "is more than can be refunded: 60.00 USD (what the payment paid on the invoice less earlier refunds)"]}
    assert Refund.objects.count() == 1


def test_the_credited_excess_of_an_overpayment_is_not_refundable_as_money(invoice):
    payment = pay(invoice, "120.00")
    with pytest.raises(ValidationError) as error:
        payment_refund(payment=payment, amount=D("100.01"), actor="test")
    assert "100.00 USD" in error.value.message_dict["amount"][0]
    payment_refund(payment=payment, amount=D("100.00"), actor="test")
    assert state(invoice) == ("finalized", D("0.00"), D("100.00"))
    assert CreditLedgerEntry.objects.get().amount == D("20.00")  # the credit stays


def test_mark_paid_records_a_payment_of_what_is_due(invoice):
    pay(invoice, "30.00")
    invoice_mark_paid(invoice=invoice, at=at(2026, 1, 12), actor=Actor(label="user ann (cockpit)"))
    assert state(invoice) == ("paid", D("100.00"), D("0.00"))
    marked = Payment.objects.get(source="mark_paid")
    assert (marked.amount, marked.method, marked.paid_at, marked.actor_label) == (
        D("70.00"), "other", at(2026, 1, 12), "user ann (cockpit)")  # fmt: skip


@pytest.mark.parametrize(
    ("amount", "kwargs", "errors"),
    [
        ("0", {}, {"amount": ["must be greater than 0"]}),
        ("-5.00", {}, {"amount": ["must be greater than 0"]}),
        ("10.001", {}, {"amount": ["has more decimals than USD allows"]}),
        ("1e20", {}, {"amount": ["is too large (at most 15 digits before the point)"]}),
        ("10.00", {"currency": "EUR"}, {"currency": ["must be the invoice's currency, USD"]}),
        ("10.00", {"method": "barter"}, {"method": ["must be one of bank_transfer, card, cash, check, other"]}),
        ("10.00", {"paid_at": at(2999, 1, 1)}, {"paid_at": ["must not be in the future"]}),
    ],
)
def test_bad_payments_name_the_field_and_write_nothing(invoice, amount, kwargs, errors):
    with pytest.raises(ValidationError) as error:
        pay(invoice, amount, **kwargs)
    assert error.value.message_dict == errors
    assert state(invoice) == ("finalized", D("0"), D("100.00"))
    assert (Payment.objects.count(), CreditGrant.objects.count()) == (0, 0)


def test_drafts_void_and_paid_invoices_take_no_payment(tenant, invoice):
    draft = hundred(tenant.merchant, name="beta", grace_hours=48)
    assert draft.status == "draft"
    with pytest.raises(IllegalTransition, match="a draft"):
        pay(draft, "10.00")
    invoice_void(invoice=invoice, actor="test")
    with pytest.raises(IllegalTransition, match="void"):
        pay(invoice, "10.00")
    assert Payment.objects.count() == 0


def test_a_paid_invoice_refuses_another_payment_and_a_partly_paid_one_cannot_be_voided(invoice):
    pay(invoice, "30.00")
    with pytest.raises(IllegalTransition, match="partly paid"):
        invoice_void(invoice=invoice, actor="test")
    pay(invoice, "70.00")
    with pytest.raises(IllegalTransition, match="paid \\(nothing is due\\)"):
        pay(invoice, "1.00")
    assert Payment.objects.count() == 2


def test_yen_payments_take_no_decimals(tenant):
    invoice = hundred(tenant.merchant, name="kyoto", amount="1000", currency="JPY")
    with pytest.raises(ValidationError):
        pay(invoice, "999.5")
    pay(invoice, "1001")
    assert state(invoice) == ("paid", D("1000"), D("0"))
    assert CreditGrant.objects.get().amount == D("1")


@pytest.mark.postgres_only
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL row locks")
@pytest.mark.django_db(transaction=True)
def test_two_parallel_payments_of_the_full_amount_pay_once_and_refuse_the_other():
    invoice = hundred(Tenant("Racer", "r@racer.test").merchant)
    barrier, outcomes = threading.Barrier(2), []

    def record():
        try:
            barrier.wait()
            pay(Invoice.objects.get(pk=invoice.pk), "100.00")
            outcomes.append("paid")
        except IllegalTransition as exc:
            outcomes.append(str(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=record) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["cannot record a payment on an invoice that is paid (nothing is due)", "paid"]
    assert state(invoice) == ("paid", D("100.00"), D("0.00"))
    assert (Payment.objects.count(), CreditGrant.objects.count()) == (1, 0)


# --- the REST API -------------------------------------------------------------------------------------------------


def test_the_api_records_a_payment_and_answers_the_invoice_state(tenant, invoice):
    response = tenant.api.post(f"/api/v1/invoices/{invoice.pk}/payments",
                               {"amount": "30.00", "method": "card", "reference": "ch_1"}, format="json")  # fmt: skip
    assert response.status_code == 201
    body = response.json()
    assert {k: body[k] for k in ("amount", "amount_applied", "amount_credited", "currency", "method", "reference",
                                 "invoice", "invoice_number", "customer", "invoice_status", "invoice_amount_paid",
                                 "invoice_amount_due", "source")} == {
        "amount": "30.00", "amount_applied": "30.00", "amount_credited": "0.00", "currency": "USD", "method": "card",
        "reference": "ch_1", "invoice": invoice.pk, "invoice_number": "INV-2026-000001", "customer": "acme",
        "invoice_status": "finalized", "invoice_amount_paid": "30.00", "invoice_amount_due": "70.00",
        "source": "manual"}  # fmt: skip
    assert body["recorded_by"].startswith("api key atlas_")
    assert Payment.objects.get().actor_api_key.merchant == tenant.merchant
    shown = tenant.api.get(f"/api/v1/invoices/{invoice.pk}").json()
    assert (shown["amount_paid"], shown["amount_due"], shown["status"]) == ("30.00", "70.00", "finalized")
    assert tenant.api.get(f"/api/v1/payments/{body['id']}").json()["amount"] == "30.00"
    assert [p["id"] for p in tenant.api.get(f"/api/v1/invoices/{invoice.pk}/payments").json()] == [body["id"]]


def test_mark_paid_keeps_its_path_and_answer_and_records_the_payment(tenant, invoice):
    response = tenant.api.post(f"/api/v1/invoices/{invoice.pk}/mark_paid")
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["amount_paid"], response.json()["amount_due"]) == (
        "paid", "100.00", "0.00")  # fmt: skip
    assert Payment.objects.get().source == "mark_paid"
    assert tenant.api.post(f"/api/v1/invoices/{invoice.pk}/mark_paid").status_code == 409


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"amount": "10.00", "method": "card", "currency": "EUR"}, "currency"),
        ({"amount": 10.5, "method": "card"}, "amount"),
        ({"amount": "abc", "method": "card"}, "amount"),
        ({"amount": "10.00", "method": "wampum"}, "method"),
        ({"method": "card"}, "amount"),
        ({"amount": "10.00", "method": "card", "paid_at": "tomorrow"}, "paid_at"),
        ({"amount": "10.00", "method": "card", "reference": 5}, "reference"),
    ],
)
def test_bad_api_payments_are_400_naming_the_field(tenant, invoice, body, field):
    response = tenant.api.post(f"/api/v1/invoices/{invoice.pk}/payments", body, format="json")
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == [field]
    assert Payment.objects.count() == 0


def test_payments_on_a_draft_are_409(tenant):
    draft = hundred(tenant.merchant, name="beta", grace_hours=48)
    response = tenant.api.post(f"/api/v1/invoices/{draft.pk}/payments", {"amount": "1.00", "method": "cash"},
                               format="json")  # fmt: skip
    assert response.status_code == 409 and Payment.objects.count() == 0


def test_the_payments_list_filters_by_customer_and_invoice_and_validates_them(tenant, invoice):
    other = hundred(tenant.merchant, name="beta")
    first, second = pay(invoice, "10.00"), pay(other, "20.00")
    listed = tenant.api.get("/api/v1/payments").json()
    assert [p["id"] for p in listed["results"]] == [second.pk, first.pk] and listed["next"] is None
    assert [p["id"] for p in tenant.api.get("/api/v1/payments?customer=beta").json()["results"]] == [second.pk]
    assert [p["id"] for p in tenant.api.get(f"/api/v1/payments?invoice={invoice.pk}").json()["results"]] == [
        first.pk]  # fmt: skip
    assert tenant.api.get("/api/v1/payments?invoice=abc").json()["error"]["fields"] == {"invoice": "must be an id "
                                                                                                   "(digits)"}
    assert tenant.api.get("/api/v1/payments?method=barter").status_code == 400
    assert tenant.api.get("/api/v1/payments?limit=1").json()["next"] is not None


def test_refunds_over_the_api(tenant, invoice):
    payment = pay(invoice, "100.00")
    response = tenant.api.post(f"/api/v1/payments/{payment.pk}/refunds", {"amount": "25.00", "reason": "goodwill"},
                               format="json")  # fmt: skip
    assert response.status_code == 201
    assert (response.json()["amount"], response.json()["reason"]) == ("25.00", "goodwill")
    shown = tenant.api.get(f"/api/v1/payments/{payment.pk}").json()
    assert (shown["amount_refunded"], shown["invoice_status"], shown["invoice_amount_due"]) == (
        "25.00", "finalized", "25.00")  # fmt: skip
    too_much = tenant.api.post(f"/api/v1/payments/{payment.pk}/refunds", {"amount": "75.01"}, format="json")
    assert too_much.status_code == 400 and list(too_much.json()["error"]["fields"]) == ["amount"]


def test_another_merchants_payments_are_404(tenant, other_tenant, invoice):
    payment = pay(invoice, "10.00")
    assert other_tenant.api.get(f"/api/v1/payments/{payment.pk}").status_code == 404
    assert other_tenant.api.get("/api/v1/payments").json()["results"] == []
    posted = other_tenant.api.post(f"/api/v1/invoices/{invoice.pk}/payments", {"amount": "1.00", "method": "cash"},
                                   format="json")  # fmt: skip
    assert posted.status_code == 404
    assert other_tenant.api.post(f"/api/v1/payments/{payment.pk}/refunds", {"amount": "1.00"},
                                 format="json").status_code == 404  # fmt: skip
    assert Payment.objects.count() == 1 and InvoiceEvent.objects.filter(note__startswith="refund").count() == 0
