"""The settings page: sections, the tax rate as a percentage, the merchant's number and date format."""

from decimal import Decimal

import pytest

from atlas.forms import MerchantSettingsForm
from tests.cockpit.builders import login

pytestmark = pytest.mark.django_db

BASE = {
    "name": "Acme Cloud", "billing_day": "1", "invoice_grace_hours": "0", "invoice_prefix": "INV",
    "default_tax_rate": "0", "timezone": "UTC", "locale": "en", "payment_terms_days": "30",
}  # fmt: skip


@pytest.mark.parametrize(
    ("typed", "stored"),
    [("20", "0.200000"), ("8.875", "0.088750"), ("0", "0.000000"), ("100", "1.000000"), ("5.5", "0.055000")],
)
def test_the_tax_rate_is_typed_as_a_percentage_and_stored_as_a_fraction(client, tenant, typed, stored):
    login(client, tenant)
    response = client.post("/settings/", {**BASE, "default_tax_rate": typed})
    assert response.status_code == 302
    tenant.merchant.refresh_from_db()
    assert tenant.merchant.default_tax_rate == Decimal(stored)


def test_the_page_shows_the_stored_rate_as_a_percentage(client, tenant):
    tenant.merchant.default_tax_rate = Decimal("0.2")
    tenant.merchant.save()
    login(client, tenant)
    content = client.get("/settings/").content.decode()
    assert 'name="default_tax_rate" value="20"' in content
    assert "Default tax rate (%)" in content


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("120", "must be a percentage from 0 to 100 (20 for a 20 percent rate)"),
        ("-1", "must be a percentage from 0 to 100 (20 for a 20 percent rate)"),
        ("twenty", "must be a percentage from 0 to 100 (20 for a 20 percent rate)"),
        ("1000000", "must be a percentage from 0 to 100 (20 for a 20 percent rate)"),
        ("8.87501", "can have at most 4 decimals (8.875 for 8.875 percent)"),
    ],
)
def test_an_out_of_range_rate_is_refused_with_a_clear_message_and_nothing_changes(client, tenant, typed, message):
    login(client, tenant)
    response = client.post("/settings/", {**BASE, "default_tax_rate": typed, "company_name": "Changed"})
    assert response.status_code == 400
    assert response.context["form"].errors["default_tax_rate"] == [message]
    assert f'<span class="error" data-field="default_tax_rate">{message}</span>' in response.content.decode()
    tenant.merchant.refresh_from_db()
    assert (tenant.merchant.default_tax_rate, tenant.merchant.company_name) == (Decimal("0"), "Acme Cloud")


def test_the_locale_is_chosen_on_the_page_and_formats_the_cockpit(client, tenant):
    login(client, tenant)
    page = client.get("/settings/").content.decode()
    assert '<option value="de">Deutsch — 1.234,56 · 5. Jan. 2026</option>' in page
    assert client.post("/settings/", {**BASE, "locale": "de", "default_tax_rate": "19"}).status_code == 302
    tenant.merchant.refresh_from_db()
    assert tenant.merchant.locale == "de"
    content = client.get("/settings/").content.decode()
    assert 'name="default_tax_rate" value="19"' in content
    assert '<option value="de" selected>' in content


def test_an_unknown_locale_is_refused(client, tenant):
    login(client, tenant)
    response = client.post("/settings/", {**BASE, "locale": "xx_YY"})
    assert response.status_code == 400
    assert "locale" in response.context["form"].errors
    tenant.merchant.refresh_from_db()
    assert tenant.merchant.locale == "en"


def test_a_post_without_the_locale_keeps_it(client, tenant):
    tenant.merchant.locale = "fr"
    tenant.merchant.save()
    login(client, tenant)
    data = {key: value for key, value in BASE.items() if key != "locale"}
    assert client.post("/settings/", data).status_code == 302
    tenant.merchant.refresh_from_db()
    assert tenant.merchant.locale == "fr"


def test_settings_are_grouped_and_a_new_field_lands_in_other_settings(tenant):
    form = MerchantSettingsForm(instance=tenant.merchant)
    assert [(title, [field.name for field in fields]) for title, fields in form.sections()] == [
        ("Billing", ["billing_day", "invoice_grace_hours", "payment_terms_days", "invoice_prefix", "default_tax_rate"]),
        ("Formats", ["timezone", "locale"]),
        ("Payments and reminders", ["payment_instructions", "dunning_days"]),
        ("Company details on invoices", ["name", "company_name", "company_address", "company_email",
                                         "company_tax_id"]),
    ]  # fmt: skip

    class Extended(MerchantSettingsForm):
        class Meta(MerchantSettingsForm.Meta):
            fields = [*MerchantSettingsForm.Meta.fields, "slug"]

    assert [field.name for field in Extended(instance=tenant.merchant).sections()[-1][1]] == ["slug"]


def test_a_viewer_reads_the_settings_but_cannot_save(client, tenant):
    from tests.cockpit.builders import login_viewer

    login_viewer(client, tenant)
    assert client.get("/settings/").status_code == 200
    assert client.post("/settings/", {**BASE, "default_tax_rate": "20"}).status_code == 403
    tenant.merchant.refresh_from_db()
    assert tenant.merchant.default_tax_rate == Decimal("0")


def test_the_cockpit_writes_money_and_dates_in_the_merchants_locale(client, tenant):
    from billing.credits.services import credit_grant_create
    from tests.cockpit.builders import customer

    tenant.merchant.locale = "de"
    tenant.merchant.save()
    credit_grant_create(merchant=tenant.merchant, customer=customer(tenant.merchant, "pre"),
                        amount=Decimal("1234.50"), currency="USD")  # fmt: skip
    login(client, tenant)
    assert client.get("/").context["credits"] == [("USD", "1.234,50")]


def test_the_api_reads_and_sets_the_locale_and_refuses_an_unknown_one(tenant):
    assert tenant.api.get("/api/v1/merchant").json()["locale"] == "en"
    assert tenant.api.patch("/api/v1/merchant", {"locale": "fr"}, format="json").json()["locale"] == "fr"
    response = tenant.api.patch("/api/v1/merchant", {"locale": "klingon"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["locale"] == '"klingon" is not a valid choice.'
    tenant.merchant.refresh_from_db()
    assert tenant.merchant.locale == "fr"
