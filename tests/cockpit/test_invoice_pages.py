"""Invoice pages: the filtered list, the detail mirroring the PDF, the PDF, and the lifecycle actions."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from atlas.models import Merchant
from billing.credits.services import credit_grant_create
from billing.display import date_text
from billing.invoices import views
from billing.models import Invoice, InvoiceEvent
from customers.models import Customer
from tests.cockpit.builders import at, customer, ingest, login, login_viewer, metric, plan, run, subscribe

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def invoiced(tenant):
    """One customer on 20.00/month + tiered calls, taxed 10%, with 5.00 of credits; billed Jan–Feb 2026."""
    m = tenant.merchant
    calls = metric(m, "calls")
    tiers = [{"up_to": "2", "unit_amount": "1.00", "flat_amount": "0"},
             {"up_to": None, "unit_amount": "0.50", "flat_amount": "0"}]  # fmt: skip
    plan(m, "pro", base_fee="20.00", charges=[{"metric": calls, "model": "tiered", "params": {"tiers": tiers}}])
    cust = customer(m, "acme", name="Acme Corp", tax_rate=D("0.1"))
    subscribe(m, cust, "pro", at(2026, 1, 1), external_id="sub-acme")
    credit_grant_create(merchant=m, customer=cust, amount=D("5.00"), currency="USD", granted_at=at(2026, 1, 1),
                        reason="Welcome")  # fmt: skip
    ingest(m, cust, "calls", [at(2026, 1, day) for day in (3, 4, 5, 6)])
    run(m, at(2026, 2, 1))
    return m


def feb(merchant) -> Invoice:
    return Invoice.objects.get(merchant=merchant, customer__external_id="acme", issued_at=at(2026, 2, 1))


def test_the_detail_page_mirrors_the_pdf(client, tenant, invoiced):
    invoice = feb(invoiced)
    login(client, tenant)
    response = client.get(f"/invoices/{invoice.pk}/")
    assert response.status_code == 200
    pdf = response.context["pdf"]
    assert [(row["line"].type, row["quantity"], row["amount"]) for row in pdf["lines"]] == [
        ("base_fee", "1", "20.00"), ("usage", "4", "3.00"),
    ]  # fmt: skip
    # the tier table as the PDF prints it
    assert pdf["lines"][1]["breakdown"] == ["0 – 2: 2 × 1.00 = 2.00", "2 – ∞: 2 × 0.50 = 1.00"]
    # 23.00 − 3.00 credits (usage only) = 20.00; tax 10% = 2.00; due 22.00.
    assert (pdf["subtotal"], pdf["credits_applied"], pdf["tax"], pdf["amount_due"]) == (
        "23.00",
        "-3.00",
        "2.00",
        "22.00",
    )
    content = response.content.decode()
    assert 'data-testid="amount-due">22.00 USD' in content
    assert "Welcome" in content
    assert "<strong>draft → finalized</strong> by billing run" in content
    assert invoice.number in content


def test_the_list_filters_by_status_customer_and_issue_date(client, tenant, invoiced):
    m = invoiced
    other = customer(m, "other", name="Other Ltd")
    subscribe(m, other, "pro", at(2026, 2, 1))
    run(m, at(2026, 3, 1))
    login(client, tenant)

    def numbers(**params):
        response = client.get("/invoices/", params)
        assert response.status_code == 200
        return [(row["invoice"].customer_external_id, row["invoice"].issued_at.date().isoformat())
                for row in response.context["rows"]]  # fmt: skip

    assert numbers() == [("other", "2026-03-01"), ("acme", "2026-03-01"), ("other", "2026-02-01"),
                         ("acme", "2026-02-01"), ("acme", "2026-01-01")]  # fmt: skip
    assert numbers(customer="other") == [("other", "2026-03-01"), ("other", "2026-02-01")]
    assert numbers(customer="acme c") == [("acme", "2026-03-01"), ("acme", "2026-02-01"), ("acme", "2026-01-01")]
    assert numbers(issued_from="2026-02-01", issued_to="2026-02-01") == [("other", "2026-02-01"),
                                                                          ("acme", "2026-02-01")]  # fmt: skip
    Invoice.objects.filter(pk=feb(m).pk).update(status="paid")
    assert numbers(status="paid") == [("acme", "2026-02-01")]
    assert numbers(status="void") == []


def test_the_list_pages_by_keyset_without_gaps_or_repeats(client, tenant, invoiced, monkeypatch):
    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    subscribe(invoiced, customer(invoiced, "other"), "pro", at(2026, 1, 1))
    run(invoiced, at(2026, 2, 1))  # 4 invoices, two on each date
    login(client, tenant)
    seen = []
    url = "/invoices/"
    while url:
        response = client.get(url)
        assert response.status_code == 200
        seen += [row["invoice"].pk for row in response.context["rows"]]
        url = f"/invoices/?{response.context['next_query']}" if response.context["next_query"] else None
    expected = list(
        Invoice.objects.filter(merchant=invoiced).order_by("-issued_at", "-pk").values_list("pk", flat=True)
    )
    assert seen == expected and len(seen) == 4
    # ... and back, with the position and the count.
    assert "Showing 3–4 of 4 invoices" in response.content.decode()
    back = client.get(f"/invoices/?{response.context['pager'].previous_query}")
    assert [row["invoice"].pk for row in back.context["rows"]] == expected[:2]
    assert "Showing 1–2 of 4 invoices" in back.content.decode()
    assert back.context["pager"].previous_query is None


@pytest.mark.parametrize(
    ("params", "field"),
    [({"status": "lost"}, "status"), ({"issued_from": "2026-02-30"}, "issued_from"),
     ({"issued_from": "2026-03-01", "issued_to": "2026-02-01"}, "issued_to"), ({"after": "%%%"}, "after"),
     ({"after": "bm90LWEtY3Vyc29y"}, "after")],
)  # fmt: skip
def test_bad_filters_are_a_400_naming_the_field(client, tenant, params, field):
    login(client, tenant)
    response = client.get("/invoices/", params)
    assert response.status_code == 400
    assert field in response.context["form"].errors
    assert b'data-testid="filter-errors"' in response.content


def test_finalizing_a_draft_from_the_page(client, tenant, invoiced):
    Merchant.objects.filter(pk=invoiced.pk).update(invoice_grace_hours=72)
    run(invoiced, at(2026, 3, 1))
    draft = Invoice.objects.get(merchant=invoiced, issued_at=at(2026, 3, 1))
    assert draft.status == "draft"
    login(client, tenant)
    page = client.get(f"/invoices/{draft.pk}/")
    assert b">Finalize</button>" in page.content
    response = client.post(f"/invoices/{draft.pk}/finalize/", follow=True)
    assert response.redirect_chain[-1] == (f"/invoices/{draft.pk}/", 302)
    draft.refresh_from_db()
    assert draft.status == "finalized"
    assert draft.number == "INV-2026-000003"
    audit = InvoiceEvent.objects.filter(invoice=draft).last()
    assert (audit.from_state, audit.to_state, audit.actor) == ("draft", "finalized", "owner@acme.test (cockpit)")
    assert b"is now finalized" in response.content


def test_marking_paid_then_voiding_is_refused_with_a_message(client, tenant, invoiced):
    invoice = feb(invoiced)
    login(client, tenant)
    client.post(f"/invoices/{invoice.pk}/mark-paid/")
    invoice.refresh_from_db()
    assert (invoice.status, invoice.amount_due, invoice.amount_paid) == ("paid", D("0"), D("22.00"))
    audits = InvoiceEvent.objects.filter(invoice=invoice).count()
    response = client.post(f"/invoices/{invoice.pk}/void/", follow=True)
    assert response.status_code == 200
    assert b"Nothing changed: cannot void an invoice that is paid." in response.content
    invoice.refresh_from_db()
    assert invoice.status == "paid"
    assert InvoiceEvent.objects.filter(invoice=invoice).count() == audits


def test_voiding_a_finalized_invoice_gives_its_credits_back(client, tenant, invoiced):
    invoice = feb(invoiced)
    login(client, tenant)
    client.post(f"/invoices/{invoice.pk}/void/")
    invoice.refresh_from_db()
    assert invoice.status == "void"
    page = client.get(f"/invoices/{invoice.pk}/")
    assert b">Void</button>" not in page.content and b">Mark paid</button>" not in page.content


def test_a_viewer_sees_invoices_but_cannot_act(client, tenant, invoiced):
    invoice = feb(invoiced)
    audits = InvoiceEvent.objects.filter(invoice=invoice).count()
    login_viewer(client, tenant)
    assert client.get("/invoices/").status_code == 200
    page = client.get(f"/invoices/{invoice.pk}/")
    assert page.status_code == 200
    assert b">Void</button>" not in page.content
    for action in ("finalize", "void", "mark-paid"):
        assert client.post(f"/invoices/{invoice.pk}/{action}/").status_code == 403
    invoice.refresh_from_db()
    assert invoice.status == "finalized"
    assert InvoiceEvent.objects.filter(invoice=invoice).count() == audits


def test_another_merchants_invoice_is_a_404_everywhere(client, tenant, other_tenant, invoiced):
    invoice = feb(invoiced)
    login(client, other_tenant)
    for url in (f"/invoices/{invoice.pk}/", f"/invoices/{invoice.pk}/pdf/"):
        assert client.get(url).status_code == 404
    for action in ("finalize", "void", "mark-paid"):
        assert client.post(f"/invoices/{invoice.pk}/{action}/").status_code == 404
    invoice.refresh_from_db()
    assert invoice.status == "finalized"
    assert client.get("/invoices/").context["rows"] == []


def test_anonymous_visitors_go_to_the_login_page(client, tenant, invoiced):
    invoice = feb(invoiced)
    for url in ("/invoices/", f"/invoices/{invoice.pk}/", f"/invoices/{invoice.pk}/pdf/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert client.post(f"/invoices/{invoice.pk}/void/").status_code == 302
    invoice.refresh_from_db()
    assert invoice.status == "finalized"


def test_actions_only_answer_post(client, tenant, invoiced):
    login(client, tenant)
    assert client.get(f"/invoices/{feb(invoiced).pk}/void/").status_code == 405


def test_the_pdf_downloads(client, tenant, invoiced, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    invoice = feb(invoiced)
    login(client, tenant)
    response = client.get(f"/invoices/{invoice.pk}/pdf/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert b"".join(response.streaming_content).startswith(b"%PDF")
    assert f'filename="{invoice.number}.pdf"' in response["Content-Disposition"]


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_the_list_and_detail_cost_the_same_queries_at_3_and_30_invoices(client, tenant,
                                                                        django_assert_max_num_queries):  # fmt: skip
    m = tenant.merchant
    plan(m, "basic", base_fee="10.00")
    login(client, tenant)
    list_counts, detail_counts = [], []
    for n, offset in ((3, 0), (30, 3)):
        for i in range(offset, n):
            subscribe(m, customer(m, f"c{i}"), "basic", at(2026, 1, 1))
        run(m, at(2026, 1, 1))
        assert Invoice.objects.filter(merchant=m).count() == n
        list_counts.append(_queries(client, "/invoices/"))
        detail_counts.append(_queries(client, f"/invoices/{Invoice.objects.filter(merchant=m).last().pk}/"))
    assert list_counts[0] == list_counts[1]
    assert detail_counts[0] == detail_counts[1]
    with django_assert_max_num_queries(6):  # 5 + the count of "Showing 1–50 of n"
        client.get("/invoices/?status=finalized&customer=c1&issued_from=2026-01-01")
    Customer.objects.filter(merchant=m).exists()


# --- credit notes from the invoice page ------------------------------------------------------------------------


def _lines(invoice) -> dict[str, int]:
    return {line.type: line.pk for line in invoice.lines.all()}


def test_issuing_a_credit_note_from_the_page(client, tenant, invoiced):
    invoice = feb(invoiced)  # 23.00 − 3.00 credits, tax 2.00: total 22.00, due 22.00
    ids = _lines(invoice)
    login(client, tenant)
    page = client.get(f"/invoices/{invoice.pk}/").content.decode()
    assert "Issue credit note</button>" in page
    assert "at most 22.00 USD with tax" in page
    response = client.post(f"/invoices/{invoice.pk}/credit-notes/", {
        f"amount_{ids['base_fee']}": "5.00", f"amount_{ids['usage']}": "", "reason": "order_change",
        "memo": "Downgrade agreed on Jan 20",
    }, follow=True)  # fmt: skip
    assert response.redirect_chain[-1] == (f"/invoices/{invoice.pk}/", 302)
    content = response.content.decode()
    assert "Credit note INV-CN-2026-000001 issued: 5.50 USD." in content
    note = invoice.credit_notes.get()
    # total − the note = amount due, on the page: 22.00 − 5.50 = 16.50
    assert (
        '<tr class="settlement credit_note" data-testid="settlement-credit_note"><td>Credit note INV-CN-2026-000001'
        f' · {date_text(note.issued_at, invoiced.timezone)}</td><td class="num">-5.50</td></tr>'
    ) in content
    assert 'data-testid="total">22.00<' in content and 'data-testid="amount-due">16.50 USD' in content
    assert "Downgrade agreed on Jan 20" in content and "off the amount due" in content
    assert ">Void</button>" not in content  # a credited invoice cannot be voided
    assert client.post(f"/invoices/{invoice.pk}/void/", follow=True).content.decode().count(
        "Nothing changed: cannot void an invoice that is partly credited (it has credit notes).") == 1
    invoice.refresh_from_db()
    assert (invoice.credited, invoice.amount_due) == (D("5.50"), D("16.50"))
    assert (note.actor, note.reason, note.total) == ("owner@acme.test (cockpit)", "order_change", D("5.50"))
    pdf = client.get(f"/invoices/{invoice.pk}/credit-notes/{note.pk}/pdf/")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert 'filename="INV-CN-2026-000001.pdf"' in pdf["Content-Disposition"]


def test_a_bad_credit_note_form_names_the_line_and_changes_nothing(client, tenant, invoiced):
    invoice = feb(invoiced)
    ids = _lines(invoice)
    login(client, tenant)
    url = f"/invoices/{invoice.pk}/credit-notes/"
    cases = [
        ({f"amount_{ids['usage']}": "3.01", "reason": "other"},
         "Nothing changed: Calls: is more than what is left of the line: 3.00 USD"),
        ({f"amount_{ids['usage']}": "abc", "reason": "other"},
         "Nothing changed: Calls: &#x27;abc&#x27; is not a decimal number"),
        ({"reason": "other"}, "Nothing changed: Amounts: must name at least one invoice line"),
        ({f"amount_{ids['usage']}": "1e30", "reason": "other"},
         "Nothing changed: Calls: is more than what is left of the line: 3.00 USD"),
        ({f"amount_{ids['usage']}": "1.00", "reason": "whim"}, "Nothing changed: Reason: must be one of"),
    ]  # fmt: skip
    for data, message in cases:
        content = client.post(url, data, follow=True).content.decode()
        assert message in content, data
    invoice.refresh_from_db()
    assert (invoice.credited, invoice.amount_due) == (D("0"), D("22.00"))
    assert not invoice.credit_notes.exists()


def test_credit_notes_are_for_editors_of_the_owning_merchant_only(client, tenant, other_tenant, invoiced):
    invoice = feb(invoiced)
    data = {f"amount_{_lines(invoice)['usage']}": "1.00", "reason": "other"}
    url = f"/invoices/{invoice.pk}/credit-notes/"
    assert client.post(url, data).status_code == 302  # anonymous: to the login page
    login_viewer(client, tenant)
    assert b"Issue credit note</button>" not in client.get(f"/invoices/{invoice.pk}/").content
    assert client.post(url, data).status_code == 403
    login(client, other_tenant)
    assert client.post(url, data).status_code == 404
    assert not invoice.credit_notes.exists()
    login(client, tenant)
    client.post(url, data)
    note = invoice.credit_notes.get()
    login(client, other_tenant)
    assert client.get(f"/invoices/{invoice.pk}/credit-notes/{note.pk}/pdf/").status_code == 404


def test_an_invoice_without_credits_shows_them_as_0_not_minus_0(client, tenant):
    m = tenant.merchant
    plan(m, "flat", base_fee="10.00")
    subscribe(m, customer(m, "plain"), "flat", at(2026, 1, 1))
    run(m, at(2026, 1, 1))
    login(client, tenant)
    content = client.get(f"/invoices/{Invoice.objects.get(merchant=m).pk}/").content.decode()
    assert 'data-testid="credits">0.00<' in content
