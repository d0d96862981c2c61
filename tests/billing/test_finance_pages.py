"""Cockpit pages of receivables, the journal, dunning and statements, on the book of test_receivables."""

import csv
import io

import pytest
from pypdf import PdfReader

from atlas.services import merchant_update
from billing.dunning.services import dunning_plan
from billing.models import DunningReminder, Invoice
from tests.billing.test_invoices_helpers import at
from tests.billing.test_receivables import build_book
from tests.cockpit.builders import login, login_viewer

pytestmark = pytest.mark.django_db


@pytest.fixture
def book(tenant):
    build_book(tenant.merchant)
    merchant_update(merchant=tenant.merchant, dunning_days=[3, 7, 14])
    return tenant.merchant


def test_pages_need_a_login(client, book):
    for url in ("/receivables/", "/receivables/journal/?start=2026-01-01&end=2026-01-31&format=csv", "/dunning/",
                "/customers/a/statement/", "/customers/a/statement/pdf/"):  # fmt: skip
        answer = client.get(url)
        assert answer.status_code == 302 and answer["Location"].startswith("/login/"), url


def test_the_receivables_page_shows_the_aging_and_its_chart(client, tenant, book):
    login_viewer(client, tenant)  # viewers read every page
    page = client.get("/receivables/?as_of=2026-04-15&currency=USD")
    assert page.status_code == 200
    html = page.content.decode()
    assert "at the close of Apr 15, 2026" in html and 'id="aging-chart"' in html
    assert page.context["rows"][0] == {"customer": "a", "name": "A Inc.", "currency": "USD",
                                       "amounts": ["25.00", "90.00", "70.00", "100.00", "0.00", "285.00"]}  # fmt: skip
    assert page.context["chart"] == {"labels": ["Current", "1–30 days", "31–60 days", "61–90 days", "Over 90 days"],
                                     "currency": "USD", "values": ["85.00", "90.00", "70.00", "100.00", "40.00"]}
    assert ">Receivables</a>" in html  # the navigation item
    assert client.get("/receivables/?as_of=2026-02-31").status_code == 400


def test_the_journal_downloads_as_csv_from_the_cockpit_and_a_bad_span_is_a_400(client, tenant, book):
    login(client, tenant)
    answer = client.get("/receivables/journal/?start=2026-04-01&end=2026-04-30&format=csv")
    assert answer.status_code == 200
    rows = list(csv.DictReader(io.StringIO(b"".join(answer.streaming_content).decode())))
    assert sum(float(r["debit"]) for r in rows) == pytest.approx(sum(float(r["credit"]) for r in rows))
    assert {r["customer"] for r in rows} == {"a", "b", "c", "d"}
    bad = client.get("/receivables/journal/?start=2026-04-30&end=2026-04-01&format=csv")
    assert bad.status_code == 400 and "must be on or after the start date" in bad.content.decode()


def test_the_dunning_page_previews_the_reminder_and_lists_what_was_recorded(client, tenant, book):
    dunning_plan(as_of=at(2026, 4, 15, 3), merchant=book)
    login(client, tenant)
    oldest = Invoice.objects.filter(merchant=book, status="finalized").order_by("due_at", "pk").first()
    page = client.get("/dunning/?step=7")
    assert page.status_code == 200
    html = page.content.decode()
    assert f"Reminder: invoice {oldest.number} is 7 days past due" in html
    assert "The invoice is attached as a PDF." in html
    assert page.context["reminders"].count() == DunningReminder.objects.filter(merchant=book).count() > 0
    assert client.get("/dunning/?invoice=abc").status_code == 400
    foreign = client.get("/dunning/?invoice=999999")
    assert "not an unpaid invoice of yours" in foreign.content.decode()
    invoice_page = client.get(f"/invoices/{oldest.pk}/").content.decode()
    assert "Payment reminders" in invoice_page


def test_the_statement_page_and_pdf(client, tenant, other_tenant, book):
    login(client, tenant)
    assert 'data-testid="statement-link"' in client.get("/customers/a/").content.decode()
    page = client.get("/customers/a/statement/?start=2026-02-01&end=2026-04-15")
    assert page.status_code == 200
    assert (page.context["doc"]["opening"], page.context["doc"]["closing"]) == ("100.00", "285.00")
    pdf = client.get("/customers/a/statement/pdf/?start=2026-02-01&end=2026-04-15")
    assert pdf["Content-Type"] == "application/pdf"
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
    assert "Closing balance · Apr 15, 2026" in text
    assert client.get("/customers/a/statement/?start=2026-13-01").status_code == 400
    login(client, other_tenant)
    assert client.get("/customers/a/statement/").status_code == 404


def test_dunning_days_are_a_setting_in_the_api_and_the_settings_page(client, tenant, api):
    answer = api.patch("/api/v1/merchant", {"dunning_days": [3, 7, 14]}, format="json")
    assert (answer.status_code, answer.json()["dunning_days"]) == (200, [3, 7, 14])
    for bad in ([7, 3], [0], [3, 3], "3,7", [1.5], list(range(1, 13)), [True]):
        refused = api.patch("/api/v1/merchant", {"dunning_days": bad}, format="json")
        assert refused.status_code == 400, bad
        assert list(refused.json()["error"]["fields"])[0].startswith("dunning_days"), bad
    tenant.merchant.refresh_from_db()
    assert tenant.merchant.dunning_days == [3, 7, 14]
    login(client, tenant)
    form = client.get("/settings/").context["form"]
    data = {name: "" if form[name].value() is None else form[name].value() for name in form.fields}
    assert data["dunning_days"] == "3, 7, 14"
    saved = client.post("/settings/", {**data, "dunning_days": "5, 10"})
    assert saved.status_code == 302, saved.context["form"].errors
    tenant.merchant.refresh_from_db()
    assert tenant.merchant.dunning_days == [5, 10]
    page = client.post("/settings/", {**data, "dunning_days": "10, five"})
    assert page.status_code == 400 and "Whole days separated by commas" in page.content.decode()
