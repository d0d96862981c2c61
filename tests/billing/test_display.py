"""billing.display: how documents show money, quantities, prices and dates to people (no database)."""

from datetime import UTC, date, datetime
from decimal import Decimal as D

import pytest

from billing.display import (
    breakdown_text,
    date_text,
    date_time_text,
    money_text,
    money_with_currency,
    percent_text,
    quantity_text,
    unit_price_text,
)  # fmt: skip


@pytest.mark.parametrize("amount, currency, text", [
    (D("-1122.9400"), "USD", "-1,122.94"), (D("1234567.005"), "USD", "1,234,567.01"), (D("1234.5"), "JPY", "1,235"),
    (D("1.2345"), "BHD", "1.235"), (D("-0.001"), "USD", "0.00"), (D("0"), "EUR", "0.00"), (None, "USD", ""),
])  # fmt: skip
def test_money_has_the_currency_decimals_and_thousands_separators(amount, currency, text):
    assert money_text(amount, currency) == text


def test_money_with_currency_names_it():
    assert money_with_currency(D("1000"), "USD") == "1,000.00 USD"


@pytest.mark.parametrize("value, text", [
    (D("137.6800000000"), "137.68"), (D("6.9665652006"), "6.9666"), (D("1000.0000000000"), "1,000"),
    (D("0E-10"), "0"), (D("-0.00001"), "0"), (D("12345678.5"), "12,345,678.5"), ("2", "2"), (None, ""),
])  # fmt: skip
def test_quantities_are_rounded_to_four_decimals_without_trailing_zeros(value, text):
    assert quantity_text(value) == text


@pytest.mark.parametrize("value, currency, text", [
    (D("0.000125000000"), "USD", "0.000125"), (D("1.000000000000"), "USD", "1.00"), ("0.5", "USD", "0.50"),
    (D("1500"), "USD", "1,500.00"), (D("2"), "JPY", "2"),
])  # fmt: skip
def test_unit_prices_keep_their_decimals_and_at_least_the_currencys(value, currency, text):
    assert unit_price_text(value, currency) == text


def test_a_rate_reads_as_a_percentage():
    assert (percent_text(D("0.190000")), percent_text(D("0.0825")), percent_text(D("0"))) == ("19", "8.25", "0")


def test_dates_read_one_way_in_the_merchants_time_zone():
    midnight_utc = datetime(2026, 1, 1, tzinfo=UTC)
    assert date_text(midnight_utc) == "Jan 1, 2026"
    assert date_text(midnight_utc, "Europe/Paris") == "Jan 1, 2026"
    assert date_text(midnight_utc, "America/New_York") == "Dec 31, 2025"
    assert date_time_text(datetime(2026, 1, 5, 14, 30, tzinfo=UTC), "Europe/Paris") == "Jan 5, 2026 15:30"
    assert date_text(date(2026, 3, 9)) == "Mar 9, 2026" and date_text(None) == ""


@pytest.mark.parametrize("row, text", [
    ({"from": "0", "to": "2", "units": "2", "unit_amount": "1.00", "flat_amount": "0", "amount": "2.00"},
     "0 – 2: 2 × 1.00 = 2.00"),
    ({"from": "2", "to": None, "units": "137.6800000000", "unit_amount": "0.5", "flat_amount": "5",
      "amount": "73.8400000000"}, "2 – ∞: 137.68 × 0.50 + 5.00 = 73.84"),
    ({"from": "0", "to": None, "units": "6.9665652006", "unit_amount": "0.000125000000", "flat_amount": "0",
      "amount": "0.000870820650"}, "6.9666 × 0.000125 = 0.00"),
    ({"from": "0", "to": None, "units": "25", "unit_amount": "0", "flat_amount": "15", "amount": "15",
      "packages": "3", "package_size": "10", "package_amount": "5.00"}, "25 units, 3 packages of 10 × 5.00 = 15.00"),
    ({"group": {"region": "eu"}, "units": "12", "included_units": "10", "unit_amount": "0.02", "amount": "0.24"},
     "region eu: 12 × 0.02 = 0.24 (10 included)"),
    ({"from": "0", "to": "100", "units": "3", "unit_amount": "0", "flat_amount": "1000", "amount": "1000"},
     "0 – 100: 3 units, flat 1,000.00 = 1,000.00"),
])  # fmt: skip
def test_a_breakdown_row_reads_as_figures(row, text):
    assert breakdown_text(row, "USD") == text


# --- the merchant's locale (atlas/locales.py) --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("locale", "money", "quantity", "day", "moment", "month"),
    [
        ("en", "-1,122.94", "1,234.5", "Jan 5, 2026", "Jan 5, 2026 14:30", "Jan 2026"),
        ("en_GB", "-1,122.94", "1,234.5", "5 Jan 2026", "5 Jan 2026 14:30", "Jan 2026"),
        ("de", "-1.122,94", "1.234,5", "5. Jan. 2026", "5. Jan. 2026 14:30", "Jan. 2026"),
        ("fr", "-1\u202f122,94", "1\u202f234,5", "5 janv. 2026", "5 janv. 2026 14:30", "janv. 2026"),
    ],
)
def test_one_format_per_merchant_locale(locale, money, quantity, day, moment, month):
    from atlas.locales import use_locale
    from billing import display

    with use_locale(locale):
        assert display.money_text(D("-1122.944"), "USD") == money
        assert display.quantity_text(D("1234.50000")) == quantity
        assert display.date_text(datetime(2026, 1, 5, 23, 30, tzinfo=UTC), "UTC") == day
        assert display.date_time_text(datetime(2026, 1, 5, 14, 30, tzinfo=UTC), "UTC") == moment
        assert display.month_text(2026, 1) == month
    assert display.money_text(D("-1122.944"), "USD") == "-1,122.94"  # the default again afterwards


def test_an_unknown_locale_falls_back_to_english():
    from atlas.locales import use_locale
    from billing import display

    with use_locale("xx"):
        assert display.money_text(D("1234.5"), "EUR") == "1,234.50"


@pytest.mark.parametrize(("value", "shown"), [
    ("-1122.9400", "-1,122.94"), ("0", "0.00"), ("0.200000", "0.20"), ("34.8", "34.80"),
    ("1234567.123456", "1,234,567.1235"), ("not a number", ""), (None, ""),
])  # fmt: skip
def test_an_amount_without_its_currency_reads_with_two_decimals_or_the_ones_that_matter(value, shown):
    from billing.display import amount_text

    assert amount_text(value) == shown
