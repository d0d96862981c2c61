"""Credit notes (docs/billing.md, "Credit notes"): corrections to an issued invoice, which never changes.

One invoice throughout: base fee 20.00 + 40 calls at 0.25 = 30.00, tax 20 % = 6.00, total 36.00, finalized by the
February run as INV-2026-000001.
"""

import io
import threading
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections
from pypdf import PdfReader

from billing.credit_notes.services import credit_note_issue
from billing.credits.services import credit_grant_create
from billing.invoices.services import IllegalTransition, invoice_void
from billing.models import CreditGrant, CreditLedgerEntry, CreditNote, Invoice, InvoiceCounter
from billing.payments.services import invoice_mark_paid
from billing.runs.engine import billing_run
from tests.billing.test_invoices_helpers import D, at, customer, event, metric, plan, subscribe
from tests.conftest import Tenant

pytestmark = pytest.mark.django_db


def _invoice(merchant, *, grant: str | None = None) -> Invoice:
    calls = metric(merchant, "calls")
    version = plan(merchant, "metered", timing="in_arrears", base_fee="20.00",
                   charges=[{"metric": calls, "model": "per_unit", "params": {"unit_amount": "0.25"}}])  # fmt: skip
    cust = customer(merchant, "alpha", tax_rate=D("0.2"))
    subscribe(merchant, cust, version, at(2026, 1, 1), external_id="alpha-sub")
    for day in range(40):
        event(cust, "calls", at(2026, 1, 1 + day % 28, 10))
    if grant:
        credit_grant_create(merchant=merchant, customer=cust, amount=D(grant), currency="USD",
                            granted_at=at(2025, 12, 1))  # fmt: skip
    billing_run(as_of=at(2026, 2, 1, 12))
    return Invoice.objects.get(customer=cust)


@pytest.fixture
def invoice(tenant) -> Invoice:
    found = _invoice(tenant.merchant)
    assert (found.status, found.number, found.subtotal, found.tax, found.total, found.amount_due) == (
        "finalized", "INV-2026-000001", D("30.00"), D("6.00"), D("36.00"), D("36.00"))  # fmt: skip
    return found


def lines(invoice: Invoice) -> dict[str, int]:
    return {line.type: line.pk for line in invoice.lines.all()}


def issue(invoice, *credits, **kwargs) -> CreditNote:
    kwargs.setdefault("reason", "billing_error")
    kwargs.setdefault("actor", "test")
    kwargs.setdefault("at", at(2026, 2, 10))
    return credit_note_issue(invoice=invoice, lines=[(line, D(amount)) for line, amount in credits], **kwargs)


def totals(note: CreditNote) -> tuple:
    return (note.subtotal, note.tax, note.total, note.amount_applied, note.amount_credited, note.amount_refunded)


def test_a_partial_credit_note_takes_its_total_off_what_is_due(invoice):
    note = issue(invoice, (lines(invoice)["usage"], "5.00"), memo="Outage on Jan 9")
    assert note.number == "INV-CN-2026-000001"
    assert totals(note) == (D("5.00"), D("1.00"), D("6.00"), D("6.00"), D("0"), D("0"))
    assert [(line.description, line.amount) for line in note.lines.all()] == [("Calls", D("5.00"))]
    invoice.refresh_from_db()
    assert (invoice.status, invoice.total, invoice.credited, invoice.amount_due) == (
        "finalized", D("36.00"), D("6.00"), D("30.00"))  # fmt: skip
    assert invoice.lines.get(type="usage").amount == D("10.00")  # the invoice itself never changes
    last = invoice.audit.order_by("at", "pk").last()
    assert (last.from_state, last.to_state, last.note) == ("finalized", "finalized",
                                                           "credit note INV-CN-2026-000001: 6.00 USD")  # fmt: skip


def test_crediting_everything_left_settles_the_invoice_and_mark_paid_then_records_nothing_more(invoice):
    ids = lines(invoice)
    issue(invoice, (ids["usage"], "5.00"))
    note = issue(invoice, (ids["base_fee"], "20.00"), (ids["usage"], "5.00"), reason="order_change")
    assert note.number == "INV-CN-2026-000002"
    assert totals(note) == (D("25.00"), D("5.00"), D("30.00"), D("30.00"), D("0"), D("0"))
    invoice.refresh_from_db()
    assert (invoice.status, invoice.credited, invoice.amount_due, invoice.amount_paid, invoice.paid_at) == (
        "paid", D("36.00"), D("0"), D("0"), at(2026, 2, 10))  # fmt: skip
    assert invoice.audit.order_by("at", "pk").last().note == (
        "credit note INV-CN-2026-000002: 30.00 USD, settled by credit note")
    with pytest.raises(IllegalTransition):
        invoice_mark_paid(invoice=invoice)


def test_payment_after_a_partial_credit_records_only_what_was_still_due(invoice):
    issue(invoice, (lines(invoice)["usage"], "10.00"))
    paid = invoice_mark_paid(invoice=invoice, at=at(2026, 2, 11))
    assert (paid.status, paid.amount_paid, paid.amount_due, paid.credited) == ("paid", D("24.00"), D("0"), D("12.00"))


def test_on_a_paid_invoice_the_default_returns_customer_credit(invoice):
    invoice_mark_paid(invoice=invoice, at=at(2026, 2, 5))
    note = issue(invoice, (lines(invoice)["usage"], "10.00"))
    assert totals(note) == (D("10.00"), D("2.00"), D("12.00"), D("0"), D("12.00"), D("0"))
    grant = note.credit_grant
    assert (grant.amount, grant.currency, grant.granted_at, grant.reason) == (
        D("12.00"), "USD", at(2026, 2, 10), "Credit note INV-CN-2026-000001 on invoice INV-2026-000001")  # fmt: skip
    assert list(CreditLedgerEntry.objects.filter(grant=grant).values_list("kind", "amount")) == [("grant", D("12.00"))]
    invoice.refresh_from_db()
    assert (invoice.status, invoice.amount_paid, invoice.amount_due, invoice.credited) == (
        "paid", D("36.00"), D("0"), D("12.00"))  # fmt: skip


def test_on_a_paid_invoice_a_refund_is_recorded_and_grants_nothing(invoice):
    invoice_mark_paid(invoice=invoice, at=at(2026, 2, 5))
    note = issue(invoice, (lines(invoice)["base_fee"], "20.00"), method="refund", reason="duplicate")
    assert totals(note) == (D("20.00"), D("4.00"), D("24.00"), D("0"), D("0"), D("24.00"))
    assert note.credit_grant is None and not CreditGrant.objects.exists()


def test_prepaid_credits_cap_what_credit_notes_can_total(tenant):
    invoice = _invoice(tenant.merchant, grant="10.00")
    # credits paid the usage line: taxable 20.00, tax 4.00, total 24.00
    assert (invoice.credits_applied, invoice.tax, invoice.total) == (D("10.00"), D("4.00"), D("24.00"))
    ids = lines(invoice)
    with pytest.raises(ValidationError) as too_much:
        issue(invoice, (ids["base_fee"], "20.00"), (ids["usage"], "1.00"))
    assert too_much.value.message_dict == {"lines": [
        "the credit notes of this invoice can total at most 24.00 USD (its total less earlier credit notes); "
        "this one is 25.20"]}  # fmt: skip
    note = issue(invoice, (ids["base_fee"], "20.00"))
    assert totals(note) == (D("20.00"), D("4.00"), D("24.00"), D("24.00"), D("0"), D("0"))
    invoice.refresh_from_db()
    assert (invoice.status, invoice.amount_due) == ("paid", D("0"))


@pytest.mark.parametrize(
    ("credits", "kwargs", "errors"),
    [
        ([("usage", "10.01")], {}, {"lines[0].amount": ["is more than what is left of the line: 10.00 USD"]}),
        ([("usage", "0")], {}, {"lines[0].amount": ["must be greater than 0"]}),
        ([("usage", "1.005")], {}, {"lines[0].amount": ["has more decimals than USD allows"]}),
        ([("usage", "1.00"), ("usage", "1.00")], {}, {"lines[1].line": ["line {usage} is named twice"]}),
        ([(999_999, "1.00")], {}, {"lines[0].line": ["invoice {invoice} has no line 999999"]}),
        ([], {}, {"lines": ["must name at least one invoice line"]}),
        ([("usage", "1.00")], {"reason": "because"}, {"reason": [
            "must be one of duplicate, fraudulent, order_change, product_unsatisfactory, billing_error, other"]}),
        ([("usage", "1.00")], {"method": "refund"}, {"method": [
            "applies to paid invoices only: on an unpaid invoice a credit note reduces the amount due"]}),
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(invoice, credits, kwargs, errors):
    ids = lines(invoice)
    credits = [(ids.get(line, line), amount) for line, amount in credits]
    with pytest.raises(ValidationError) as failed:
        issue(invoice, *credits, **kwargs)
    expected = {key: [m.format(usage=ids["usage"], invoice=invoice.pk) for m in value] for key, value in errors.items()}
    assert failed.value.message_dict == expected
    invoice.refresh_from_db()
    assert (invoice.credited, invoice.amount_due) == (D("0"), D("36.00"))
    assert not CreditNote.objects.exists()
    assert not InvoiceCounter.objects.filter(series="credit_note").exclude(last_number=0).exists()


def _two_line_invoice(merchant, amount: str, tax_rate: str) -> Invoice:
    """A finalized invoice of two usage lines of ``amount`` each, taxed at ``tax_rate`` (tax rounded once)."""
    from billing.invoices.services import invoice_finalize
    from billing.models import InvoiceLine

    calls = metric(merchant, "calls")
    version = plan(merchant, "bare", timing="in_arrears")
    cust = customer(merchant, "taxed", tax_rate=D(tax_rate))
    sub = subscribe(merchant, cust, version, at(2026, 1, 1), external_id="taxed-sub")
    draft = Invoice.objects.create(
        merchant=merchant, customer=cust, subscription=sub, currency="USD", period_start=at(2026, 2, 1),
        period_end=at(2026, 2, 1), issued_at=at(2026, 2, 1), due_at=at(2026, 3, 1), grace_until=at(2026, 2, 1),
    )  # fmt: skip
    for name in ("Calls EU", "Calls US"):
        InvoiceLine.objects.create(
            merchant=merchant, invoice=draft, type="usage", description=name, metric=calls, quantity=D(1),
            amount=D(amount), service_start=at(2026, 1, 1), service_end=at(2026, 2, 1),
        )  # fmt: skip
    return invoice_finalize(invoice=draft, at=at(2026, 2, 1))


@pytest.mark.parametrize(("amount", "rate", "invoice_tax", "first", "last"), [
    # 2 × 1.04 at 10 %: tax 0.21, total 2.29; line by line 0.10 + 0.10 would leave 0.01 owed
    ("1.04", "0.1", "0.21", ("1.04", "0.10", "1.14"), ("1.04", "0.11", "1.15")),
    # 2 × 1.05 at 10 %: tax 0.21, total 2.31; line by line 0.11 + 0.11 would be refused at 2.32
    ("1.05", "0.1", "0.21", ("1.05", "0.11", "1.16"), ("1.05", "0.10", "1.15")),
])  # fmt: skip
def test_crediting_line_by_line_settles_the_invoice_to_the_cent(tenant, amount, rate, invoice_tax, first, last):
    invoice = _two_line_invoice(tenant.merchant, amount, rate)
    assert invoice.tax == D(invoice_tax)
    eu, us = [line.pk for line in invoice.lines.order_by("pk")]
    notes = [issue(invoice, (eu, amount)), issue(invoice, (us, amount))]
    assert [(n.subtotal, n.tax, n.total) for n in notes] == [tuple(map(D, first)), tuple(map(D, last))]
    invoice.refresh_from_db()
    assert (invoice.status, invoice.credited, invoice.amount_due) == ("paid", invoice.total, D("0"))


def test_a_note_that_leaves_lines_uncredited_keeps_its_own_rounded_tax(tenant):
    invoice = _two_line_invoice(tenant.merchant, "1.04", "0.1")
    eu, _ = [line.pk for line in invoice.lines.order_by("pk")]
    note = issue(invoice, (eu, "1.03"))
    assert (note.subtotal, note.tax, note.total) == (D("1.03"), D("0.10"), D("1.13"))


def test_a_huge_amount_is_refused_as_more_than_the_line(invoice):
    usage = lines(invoice)["usage"]
    for amount in ("1e30", "123456789012345678901234567890.5"):
        with pytest.raises(ValidationError) as failed:
            issue(invoice, (usage, amount))
        assert failed.value.message_dict == {"lines[0].amount": ["is more than what is left of the line: 10.00 USD"]}


def test_the_second_note_can_take_only_what_the_first_left_of_a_line(invoice):
    usage = lines(invoice)["usage"]
    issue(invoice, (usage, "7.50"))
    with pytest.raises(ValidationError) as failed:
        issue(invoice, (usage, "2.51"))
    assert failed.value.message_dict == {"lines[0].amount": ["is more than what is left of the line: 2.50 USD"]}
    assert issue(invoice, (usage, "2.50")).total == D("3.00")


def test_numbers_are_their_own_gap_free_series_per_year(invoice):
    usage = lines(invoice)["usage"]
    with pytest.raises(ValidationError):
        issue(invoice, (usage, "99.00"))
    first = issue(invoice, (usage, "1.00"))
    second = issue(invoice, (usage, "1.00"), at=at(2027, 1, 3))
    assert (first.number, second.number) == ("INV-CN-2026-000001", "INV-CN-2027-000001")
    counters = InvoiceCounter.objects.order_by("series", "year").values_list("series", "year", "last_number")
    assert list(counters) == [("credit_note", 2026, 1), ("credit_note", 2027, 1), ("invoice", 2026, 1)]


def test_only_issued_invoices_take_credit_notes_and_a_credited_one_cannot_be_voided(tenant, invoice):
    usage = lines(invoice)["usage"]
    issue(invoice, (usage, "1.00"))
    with pytest.raises(IllegalTransition) as refused:
        invoice_void(invoice=invoice)
    assert str(refused.value) == "cannot void an invoice that is partly credited (it has credit notes)"
    draft = Invoice.objects.create(
        merchant=tenant.merchant, customer=invoice.customer, subscription=invoice.subscription, currency="USD",
        period_start=at(2026, 3, 1), period_end=at(2026, 4, 1), issued_at=at(2026, 3, 1), due_at=at(2026, 3, 31),
        grace_until=at(2026, 3, 1),
    )  # fmt: skip
    with pytest.raises(IllegalTransition) as refused:
        credit_note_issue(invoice=draft, lines=[(usage, D("1.00"))], reason="other", actor="test")
    assert str(refused.value) == "cannot credit an invoice that is draft"


# --- over the API ---------------------------------------------------------------------------------------------


def test_the_api_issues_lists_reads_and_renders_credit_notes(tenant, invoice):
    ids = lines(invoice)
    response = tenant.api.post(f"/api/v1/invoices/{invoice.pk}/credit_notes", {
        "reason": "product_unsatisfactory", "memo": "Slow responses in January",
        "lines": [{"line": ids["usage"], "amount": "2.50"}, {"line": ids["base_fee"], "amount": "5.00"}],
    }, format="json")  # fmt: skip
    assert response.status_code == 201
    body = response.json()
    assert {key: body[key] for key in ("number", "invoice", "invoice_number", "customer", "currency", "reason",
                                       "memo", "subtotal", "tax_rate", "tax", "total", "amount_applied",
                                       "amount_credited", "amount_refunded", "credit_grant")} == {
        "number": "INV-CN-2026-000001", "invoice": invoice.pk, "invoice_number": "INV-2026-000001",
        "customer": "alpha", "currency": "USD", "reason": "product_unsatisfactory",
        "memo": "Slow responses in January", "subtotal": "7.50", "tax_rate": "0.2", "tax": "1.50", "total": "9.00",
        "amount_applied": "9.00", "amount_credited": "0.00", "amount_refunded": "0.00", "credit_grant": None,
    }  # fmt: skip
    assert [(line["invoice_line"], line["description"], line["amount"]) for line in body["lines"]] == [
        (ids["usage"], "Calls", "2.50"), (ids["base_fee"], "Metered base fee", "5.00")]  # fmt: skip
    invoice_body = tenant.api.get(f"/api/v1/invoices/{invoice.pk}").json()
    assert (invoice_body["credited"], invoice_body["amount_due"], invoice_body["total"]) == ("9.00", "27.00", "36.00")

    listed = tenant.api.get(f"/api/v1/invoices/{invoice.pk}/credit_notes").json()
    assert [note["number"] for note in listed] == ["INV-CN-2026-000001"]
    assert [n["id"] for n in tenant.api.get("/api/v1/credit_notes?customer=alpha").json()["results"]] == [body["id"]]
    assert tenant.api.get("/api/v1/credit_notes?customer=beta").json()["results"] == []
    assert tenant.api.get(f"/api/v1/credit_notes?invoice={invoice.pk}").json()["results"][0]["id"] == body["id"]
    for bad in ("x", "²", "-1"):
        assert tenant.api.get(f"/api/v1/credit_notes?invoice={bad}").json()["error"]["fields"] == {
            "invoice": "must be an invoice id"}
    assert tenant.api.get(f"/api/v1/credit_notes/{body['id']}").json()["total"] == "9.00"

    pdf = tenant.api.get(body["pdf_url"])
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    text = PdfReader(io.BytesIO(b"".join(pdf.streaming_content) if pdf.streaming else pdf.content)).pages[0]
    text = text.extract_text()
    for expected in ("Credit note", "INV-CN-2026-000001", "INV-2026-000001", "Product Unsatisfactory",
                     "Slow responses in January", "Calls", "2.50", "Metered base fee", "5.00", "Tax (20%)", "1.50",
                     "9.00 USD", "Taken off the amount due of invoice INV-2026-000001."):  # fmt: skip
        assert expected in text, expected


def test_api_bad_input_is_a_400_naming_the_field(tenant, invoice):
    url = f"/api/v1/invoices/{invoice.pk}/credit_notes"
    usage = lines(invoice)["usage"]
    cases = [
        ({"lines": [{"line": usage, "amount": "1.00"}]}, {"reason": "This field is required."}),
        ({"reason": "other", "lines": []}, {"lines": "This list may not be empty."}),
        ({"reason": "other", "lines": [{"line": usage, "amount": 1.5}]},
         {"lines[0].amount": 'must be a decimal string such as "12.50", not a float'}),
        ({"reason": "other", "lines": [{"line": usage, "amount": "lots"}]},
         {"lines[0].amount": "'lots' is not a decimal number"}),
        ({"reason": "other", "lines": [{"line": usage, "amount": "11.00"}]},
         {"lines[0].amount": "is more than what is left of the line: 10.00 USD"}),
        ({"reason": "other", "lines": "all"}, None),
    ]  # fmt: skip
    for payload, fields in cases:
        response = tenant.api.post(url, payload, format="json")
        assert response.status_code == 400, payload
        if fields is not None:
            assert response.json()["error"]["fields"] == fields, payload
        else:
            assert "lines" in response.json()["error"]["fields"]
    assert tenant.api.post(url, b"{", content_type="application/json").status_code == 400
    assert not CreditNote.objects.exists()
    invoice_void_url = f"/api/v1/invoices/{invoice.pk}/void"
    assert tenant.api.post(invoice_void_url).status_code == 200
    refused = tenant.api.post(url, {"reason": "other", "lines": [{"line": usage, "amount": "1.00"}]}, format="json")
    assert refused.status_code == 409
    assert refused.json()["error"]["message"] == "cannot credit an invoice that is void"


def test_another_merchant_sees_404(tenant, other_tenant, invoice):
    note = issue(invoice, (lines(invoice)["usage"], "1.00"))
    payload = {"reason": "other", "lines": [{"line": lines(invoice)["usage"], "amount": "1.00"}]}
    assert other_tenant.api.post(f"/api/v1/invoices/{invoice.pk}/credit_notes", payload,
                                 format="json").status_code == 404  # fmt: skip
    assert other_tenant.api.get(f"/api/v1/credit_notes/{note.pk}").status_code == 404
    assert other_tenant.api.get(f"/api/v1/credit_notes/{note.pk}/pdf").status_code == 404
    assert other_tenant.api.get("/api/v1/credit_notes").json()["results"] == []
    assert CreditNote.objects.count() == 1
    assert Decimal(Invoice.objects.get(pk=invoice.pk).credited) == D("1.20")


def test_the_admin_shows_credit_notes_read_only(client, invoice):
    from django.contrib.auth import get_user_model

    note = issue(invoice, (lines(invoice)["usage"], "1.00"), memo="admin check")
    client.force_login(get_user_model().objects.create_superuser("root", "root@atlas.test", "pw-root-123"))
    assert b"INV-CN-2026-000001" in client.get("/admin/billing/creditnote/?q=admin+check").content
    page = client.get(f"/admin/billing/creditnote/{note.pk}/change/")
    assert page.status_code == 200 and b"Calls" in page.content
    assert client.get("/admin/billing/creditnote/add/").status_code == 403
    assert client.post(f"/admin/billing/creditnote/{note.pk}/delete/").status_code == 403
    assert CreditNote.objects.count() == 1


@pytest.mark.postgres_only
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL row locks")
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_notes_cannot_together_credit_more_than_the_invoice():
    """Each note alone fits (30.00 of 36.00); both together would not. The invoice row lock lets exactly one in."""
    invoice = _invoice(Tenant("Racer", "r@racer.test").merchant)
    ids = lines(invoice)
    barrier, outcomes = threading.Barrier(2), []

    def credit():
        try:
            barrier.wait()
            issue(Invoice.objects.get(pk=invoice.pk), (ids["base_fee"], "20.00"), (ids["usage"], "5.00"))
            outcomes.append("issued")
        except ValidationError as exc:
            outcomes.append(exc.message_dict)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=credit) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes, key=str) == sorted(["issued", {"lines[0].amount": [
        "is more than what is left of the line: 0.00 USD"]}], key=str)  # fmt: skip
    invoice.refresh_from_db()
    assert (invoice.credited, invoice.amount_due, CreditNote.objects.count()) == (D("30.00"), D("6.00"), 1)
    assert list(CreditNote.objects.values_list("number", flat=True)) == ["INV-CN-2026-000001"]
