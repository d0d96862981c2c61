"""How documents show numbers and dates to people: the invoice and credit note PDFs, the cockpit's pages. One
module, so a figure reads the same everywhere (docs/billing.md, "PDFs"), in the merchant's locale
(``Merchant.locale``, active through ``atlas.locales``; CLDR's symbols by Babel).

The API and the exports keep exact values (``atlas.money.to_str``, machine-readable CSV); nothing here is parsed
back. The rules (shown for ``en``; ``de`` writes ``1.122,94`` and ``5. Jan. 2026``, ``fr`` ``1 122,94`` and
``5 janv. 2026``):

- money: the currency's decimals (half-up, as the line rounding), thousands separated: ``1,122.94``, JPY ``1,235``;
- unit prices: what the price was written with, at least the currency's decimals, at most 12: ``0.000125``, ``1.00``;
- quantities: rounded half-up to ``QUANTITY_PLACES`` decimals, trailing zeros stripped, thousands separated:
  ``137.68``, ``6.9666``, ``1,000``;
- dates: ``Jan 5, 2026`` (a month name reads the same in every country, where 05/01/2026 does not), in the
  merchant's time zone, where its periods and days begin; times on a 24-hour clock (``Jan 5, 2026 14:30``).
"""

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, match_skeleton
from babel.numbers import NumberPattern, parse_pattern

from atlas.locales import current_locale
from atlas.money import minor_units, round_line

QUANTITY_PLACES = 4
UNIT_PRICE_PLACES = 12


def _decimal(value) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


@lru_cache(maxsize=64)
def _locale(code: str) -> Locale:
    return Locale.parse(code)


@lru_cache(maxsize=64)
def _number_pattern(places: int) -> NumberPattern:
    return parse_pattern("#,##0" + ("." + "0" * places if places else ""))


@lru_cache(maxsize=256)
def _date_pattern(code: str, skeleton: str) -> str:
    """The locale's own pattern for a skeleton (``yMMMd``: ``MMM d, y`` in en, ``d. MMM y`` in de)."""
    locale = _locale(code)
    return locale.datetime_skeletons[match_skeleton(skeleton, locale.datetime_skeletons)].pattern


def _grouped(number: Decimal, places: int) -> str:
    """``number`` (already rounded) with ``places`` decimals and the locale's thousands and decimal separators."""
    return _number_pattern(places).apply(number, _locale(current_locale()))


def money_text(amount, currency: str) -> str:
    """An amount for people: the currency's decimals, thousands separated (``-1,122.94``)."""
    number = _decimal(amount)
    if number is None:
        return ""
    rounded = round_line(number, currency)
    return _grouped(rounded + 0, minor_units(currency))  # + 0: no "-0.00"


def money_with_currency(amount, currency: str) -> str:
    """``1,122.94 USD``, where the amount stands alone (a balance, a list of invoices)."""
    text = money_text(amount, currency)
    return f"{text} {currency}" if text else ""


def unit_price_text(amount, currency: str) -> str:
    """A unit price keeps the decimals it was set with (``0.000125``), at least the currency's (``0.50``)."""
    number = _decimal(amount)
    if number is None:
        return ""
    rounded = number.quantize(Decimal(1).scaleb(-UNIT_PRICE_PLACES), rounding=ROUND_HALF_UP)
    significant = max(-rounded.normalize().as_tuple().exponent, 0)
    return _grouped(rounded + 0, max(minor_units(currency), min(significant, UNIT_PRICE_PLACES)))


def quantity_text(value, places: int = QUANTITY_PLACES) -> str:
    """A quantity rounded for reading (``6.9665652006`` → ``6.9666``, ``137.6800000000`` → ``137.68``,
    ``1000`` → ``1,000``); the exact figure stays in the API."""
    number = _decimal(value)
    if number is None:
        return ""
    rounded = number.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP) + 0
    decimals = max(-rounded.normalize().as_tuple().exponent, 0) if rounded else 0
    return _grouped(rounded, decimals)


def amount_text(value) -> str:
    """A stored amount whose currency is not at hand (the audit log's old and new values): two decimals, more
    when they matter, up to ``QUANTITY_PLACES`` (``-1122.9400`` → ``-1,122.94``, ``0`` → ``0.00``)."""
    number = _decimal(value)
    if number is None:
        return ""
    significant = max(-number.normalize().as_tuple().exponent, 0)
    places = max(2, min(significant, QUANTITY_PLACES))
    return _grouped(number.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP) + 0, places)


def percent_text(rate, places: int | None = None) -> str:
    """A rate as a percentage: ``0.19`` → ``19``, ``0.0825`` → ``8.25``; with ``places``, exactly that many
    decimals (``1.375``, 2 → ``137.50``)."""
    number = _decimal(rate)
    if number is None:
        return ""
    if places is None:
        return quantity_text(number * 100)
    return _grouped((number * 100).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP) + 0, places)


def _local(value: datetime | date, tz: str | None):
    if isinstance(value, datetime) and value.tzinfo is not None and tz:
        return value.astimezone(ZoneInfo(tz))
    return value


def _skeleton(value: date, skeleton: str) -> str:
    code = current_locale()
    return format_date(value, _date_pattern(code, skeleton), locale=_locale(code))


def date_text(value: datetime | date | None, tz: str | None = None) -> str:
    """``Jan 5, 2026``: the day in the merchant's time zone ``tz`` (UTC when not given)."""
    if value is None or value == "":
        return ""
    local = _local(value, tz or "UTC")
    return _skeleton(local.date() if isinstance(local, datetime) else local, "yMMMd")


def date_time_text(value: datetime | None, tz: str | None = None) -> str:
    """``Jan 5, 2026 14:30``, in the merchant's time zone (a 24-hour clock in every locale)."""
    if value is None or value == "":
        return ""
    local = _local(value, tz or "UTC")
    if not isinstance(local, datetime):
        return date_text(local)
    return f"{_skeleton(local.date(), 'yMMMd')} {local:%H:%M}"


def month_text(year: int, month: int) -> str:
    """A calendar month: ``Jan 2026`` (``janv. 2026`` in fr)."""
    return _skeleton(date(year, month, 1), "yMMM")


def breakdown_text(row: dict, currency: str) -> str:
    """One row of a line's price breakdown as a sentence of figures (the exact row stays in the API):

    ``0 – 2: 2 × 1.00 = 2.00``; ``2 – ∞: 2 × 0.50 + 5.00 = 6.00``; ``3 packages of 10 = 15.00``;
    ``region eu: 12 × 0.02 = 0.24 (10 included)``.
    """
    parts = []
    if isinstance(row.get("group"), dict):
        parts.append(", ".join(f"{key} {value}" for key, value in row["group"].items()) + ":")
    elif "from" in row and (_decimal(row["from"]) or row.get("to") not in (None, "")):  # a band, not "0 – ∞"
        top = quantity_text(row["to"]) if row.get("to") not in (None, "") else "∞"
        parts.append(f"{quantity_text(row['from'])} – {top}:")
    if "packages" in row:
        packages = _decimal(row["packages"])
        noun = "package" if packages == 1 else "packages"
        size, price = quantity_text(row.get("package_size")), unit_price_text(row.get("package_amount"), currency)
        parts.append(f"{quantity_text(row['units'])} units, {quantity_text(packages)} {noun} of {size} × {price}")
    else:
        sentence = ""
        unit_amount, flat = _decimal(row.get("unit_amount")), _decimal(row.get("flat_amount"))
        if row.get("units") not in (None, "") and unit_amount:
            sentence = f"{quantity_text(row['units'])} × {unit_price_text(unit_amount, currency)}"
        elif row.get("units") not in (None, ""):
            sentence = f"{quantity_text(row['units'])} units"
        if flat:
            sentence += f" + {money_text(flat, currency)}" if unit_amount else f", flat {money_text(flat, currency)}"
        if sentence:
            parts.append(sentence)
    if row.get("amount") not in (None, ""):
        parts.append(f"= {money_text(row['amount'], currency)}")
    if _decimal(row.get("included_units")):
        parts.append(f"({quantity_text(row['included_units'])} included)")
    if not parts:  # a shape this function does not know: its plain fields, still readable
        return ", ".join(f"{key.replace('_', ' ')} {value}" for key, value in row.items()
                         if not isinstance(value, dict))
    return " ".join(parts)
