"""Bank statement import (SPEC §11.2): matched by invoice number, by a unique exact amount, unmatched rows kept for
staff, dry run writes nothing, re-imports and duplicate rows never pay twice, errors by row and column."""

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from billing.models import BankTransaction, CreditGrant, Invoice, Payment
from billing.payments.bank_import import (
    bank_statement_import,
    bank_transaction_assign,
    bank_transaction_dismiss,
    numbers_in,
)
from tests.billing.test_invoices_helpers import D, at
from tests.billing.test_payments import hundred
from tests.cockpit.builders import login, login_viewer

pytestmark = pytest.mark.django_db

HEADER = "date,amount,currency,reference\n"


@pytest.fixture
def invoices(tenant) -> dict[str, Invoice]:
    """INV-2026-000001 (acme, 100.00), -000002 (beta, 100.00), -000003 (gamma, 250.00), all finalized."""
    return {name: hundred(tenant.merchant, name=name, amount=amount)
            for name, amount in (("acme", "100.00"), ("beta", "100.00"), ("gamma", "250.00"))}  # fmt: skip


def upload(tenant, text: str, dry_run: bool = False):
    body = {"file": SimpleUploadedFile("statement.csv", text.encode(), content_type="text/csv")}
    if dry_run:
        body["dry_run"] = "true"
    return tenant.api.post("/api/v1/payments/import", body, format="multipart")


def rows_of(body) -> list[tuple]:
    return [(r["row"], r["status"], r["invoice_number"], r["matched_by"], r["amount_applied"], r["amount_due_after"])
            for r in body["rows"]]  # fmt: skip


STATEMENT = HEADER + (
    "2026-01-10,40.00,USD,Payment INV-2026-000002 thank you\n"  # by number, partial
    "2026-01-11,250.00,USD,ACME GMBH SEPA\n"  # by amount: only gamma owes exactly 250.00
    "2026-01-12,100.00,USD,no idea\n"  # acme owes 100.00 and so... only acme now (beta owes 60.00)
    "2026-01-13,55.00,USD,unknown payer\n"  # nothing owes 55.00
    "2026-01-14,12.00,USD,INV-2026-0000011\n"  # a longer number is not INV-2026-000001
    "2026-01-15,-9.99,USD,bank fee\n"  # money going out
)


def test_rows_are_matched_by_number_then_by_unique_amount_and_the_rest_listed_unmatched(tenant, invoices):
    response = upload(tenant, STATEMENT)
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["dry_run"], body["matched"], body["unmatched"], body["duplicates"], body["ignored"]) == (
        False, 3, 2, 0, 1)  # fmt: skip
    assert rows_of(body) == [
        (2, "matched", "INV-2026-000002", "number", "40.00", "60.00"),
        (3, "matched", "INV-2026-000003", "amount", "250.00", "0.00"),
        (4, "matched", "INV-2026-000001", "amount", "100.00", "0.00"),
        (5, "unmatched", None, None, None, None),
        (6, "unmatched", None, None, None, None),
        (7, "ignored", None, None, None, None),
    ]
    assert body["rows"][3]["note"] == "no invoice number in the reference and no open invoice owes exactly 55.00 USD"
    beta = Invoice.objects.get(pk=invoices["beta"].pk)
    assert (beta.status, beta.amount_paid, beta.amount_due) == ("finalized", D("40.00"), D("60.00"))
    payment = Payment.objects.get(invoice=beta)
    assert (payment.method, payment.source, payment.reference, payment.paid_at) == (
        "bank_transfer", "bank_import", "Payment INV-2026-000002 thank you", at(2026, 1, 10))  # fmt: skip
    assert list(BankTransaction.objects.order_by("row").values_list("row", "status", "matched_by")) == [
        (2, "matched", "number"), (3, "matched", "amount"), (4, "matched", "amount"), (5, "unmatched", ""),
        (6, "unmatched", "")]  # fmt: skip


def test_an_ambiguous_amount_is_left_unmatched(tenant, invoices):
    body = upload(tenant, HEADER + "2026-01-10,100.00,USD,transfer\n").json()
    assert rows_of(body) == [(2, "unmatched", None, None, None, None)]
    assert body["rows"][0]["note"] == "several open invoices owe exactly 100.00 USD: assign it by hand"
    assert Payment.objects.count() == 0


def test_a_dry_run_previews_the_same_outcome_and_writes_nothing(tenant, invoices):
    preview = upload(tenant, STATEMENT, dry_run=True).json()
    assert preview["dry_run"] is True and preview["matched"] == 3
    assert [r["status"] for r in preview["rows"]] == ["matched", "matched", "matched", "unmatched", "unmatched",
                                                      "ignored"]  # fmt: skip
    assert (Payment.objects.count(), BankTransaction.objects.count(), CreditGrant.objects.count()) == (0, 0, 0)
    assert set(Invoice.objects.values_list("status", flat=True)) == {"finalized"}
    assert rows_of(upload(tenant, STATEMENT).json()) == rows_of(preview)


def test_reimporting_a_statement_and_duplicate_rows_never_pay_twice(tenant, invoices):
    upload(tenant, STATEMENT)
    again = upload(tenant, STATEMENT + "2026-01-16,1.00,USD,INV-2026-000002\n").json()
    assert (again["matched"], again["duplicates"], again["unmatched"]) == (1, 5, 0)
    assert again["rows"][0]["note"].startswith("imported before, on ")
    assert Payment.objects.count() == 4
    twice = HEADER + "2026-01-17,5.00,USD,INV-2026-000002\n2026-01-17,5.00,USD,inv-2026-000002 \n"
    body = upload(tenant, twice).json()
    assert [(r["status"], r["note"]) for r in body["rows"]] == [("matched", ""), ("duplicate", "the same as row 2")]
    assert Invoice.objects.get(pk=invoices["beta"].pk).amount_due == D("54.00")


def test_an_overpaying_row_pays_the_invoice_and_leaves_the_excess_as_credit(tenant, invoices):
    body = upload(tenant, HEADER + "2026-01-10,130.00,USD,INV-2026-000001\n").json()
    assert (body["rows"][0]["amount_applied"], body["rows"][0]["amount_credited"]) == ("100.00", "30.00")
    assert CreditGrant.objects.get().amount == D("30.00")


def test_a_row_naming_a_paid_invoice_is_unmatched(tenant, invoices):
    upload(tenant, HEADER + "2026-01-10,100.00,USD,INV-2026-000001\n")
    body = upload(tenant, HEADER + "2026-01-11,100.00,USD,INV-2026-000001 again\n").json()
    assert [(r["status"], r["note"]) for r in body["rows"]] == [
        ("unmatched", "invoice INV-2026-000001 is paid: nothing is due on it")]  # fmt: skip


def test_any_bad_row_refuses_the_file_by_row_and_column_and_writes_nothing(tenant, invoices):
    text = HEADER + (
        "2026-01-10,40.00,USD,INV-2026-000002\n"
        "2026-13-01,40.00,USD,x\n"
        "2026-01-10,4.001,USD,x\n"
        "2026-01-10,40.00,ABC,x\n"
    )
    response = upload(tenant, text)
    assert response.status_code == 400
    error = response.json()["error"]
    assert [(e["row"], e["column"]) for e in error["errors"]] == [(3, "date"), (4, "amount"), (5, "currency")]
    assert error["fields"] == {"rows[3].date": "'2026-13-01' is not a date (use YYYY-MM-DD)",
                               "rows[4].amount": "has more decimals than USD allows",
                               "rows[5].currency": "'ABC' is not a known ISO 4217 currency"}  # fmt: skip
    mismatch = upload(tenant, HEADER + "2026-01-10,40.00,USD,INV-2026-000002\n2026-01-10,40.00,EUR,INV-2026-000001\n")
    assert mismatch.status_code == 400
    assert mismatch.json()["error"]["errors"] == [
        {"row": 3, "column": "currency", "message": "is EUR but invoice INV-2026-000001 is in USD"}]
    assert (Payment.objects.count(), BankTransaction.objects.count()) == (0, 0)


def test_a_file_with_wrong_columns_is_refused(tenant, invoices):
    response = upload(tenant, "date,amount,reference\n2026-01-10,1.00,x\n")
    assert response.status_code == 400
    assert response.json()["error"]["errors"][0] == {"row": 1, "column": "currency",
                                                     "message": "required column is missing"}  # fmt: skip


def test_staff_assign_an_unmatched_row_by_hand(tenant, invoices):
    upload(tenant, HEADER + "2026-01-10,100.00,USD,transfer\n")
    line = BankTransaction.objects.get()
    payment = bank_transaction_assign(bank_transaction=line, invoice=invoices["beta"], actor="user owner (cockpit)")
    line.refresh_from_db()
    assert (line.status, line.matched_by, line.payment_id, payment.amount) == ("matched", "hand", payment.pk,
                                                                              D("100.00"))  # fmt: skip
    assert Invoice.objects.get(pk=invoices["beta"].pk).status == "paid"


def test_staff_dismiss_a_line_that_pays_no_invoice_with_the_reason(client, tenant, other_tenant, invoices):
    upload(tenant, HEADER + "2026-01-10,-4.50,USD,bank fee\n2026-01-11,100.00,USD,transfer\n")
    line = BankTransaction.objects.get(reference="transfer")
    login(client, tenant)
    url = f"/payments/bank/{line.pk}/dismiss/"
    assert client.post(url, {"reason": "  "}).status_code == 302
    line.refresh_from_db()
    assert line.status == "unmatched"  # no reason: nothing changed
    login(client, other_tenant)
    assert client.post(url, {"reason": "theirs"}).status_code == 404
    login_viewer(client, tenant)
    assert client.post(url, {"reason": "viewer"}).status_code == 403
    login(client, tenant)
    assert client.post(url, {"reason": "supplier refund"}).status_code == 302
    line.refresh_from_db()
    assert line.status == "dismissed"
    assert line.note.endswith(": supplier refund")
    assert Payment.objects.count() == 0
    page = client.get("/payments/import/").content.decode()
    assert "transfer" not in page.split('id="unmatched"')[1]
    with pytest.raises(ValidationError) as refused:
        bank_transaction_dismiss(bank_transaction=line, reason="again", actor="test")
    assert "status" in refused.value.message_dict
    again = upload(tenant, HEADER + "2026-01-11,100.00,USD,transfer\n").json()
    assert again["rows"][0]["status"] == "duplicate"


def test_invoice_numbers_are_whole_tokens():
    assert numbers_in("PAY-INV-2026-000001/INV-2026-000002x") == ["PAY-INV-2026-000001", "INV-2026-000001"]
    assert numbers_in("INV-2026-000003,INV-2026-000004") == ["INV-2026-000003", "INV-2026-000004"]
    assert numbers_in("INV-2026-0000011") == []
    assert numbers_in("ref inv-2026-000007.") == ["INV-2026-000007"]


def test_another_merchants_invoice_numbers_are_never_matched(tenant, other_tenant, invoices):
    result = bank_statement_import(merchant=other_tenant.merchant, data=(HEADER + "2026-01-10,40.00,USD,"
                                   "INV-2026-000002\n").encode(), actor="test")  # fmt: skip
    assert [r["status"] for r in result.results] == ["unmatched"]
    assert Payment.objects.count() == 0
