"""How documents show numbers and dates to people: the invoice and credit note PDFs, the invoice page, the
customer page. One module, so a figure reads the same everywhere (docs/billing.md, "PDFs").

The API and the exports keep exact values (``atlas.money.to_str``, machine-readable CSV); nothing here is parsed
back. The rules:

- money: the currency's decimals (half-up, as the line rounding), thousands separated: ``1,122.94``, JPY ``1,235``;
- unit prices: what the price was written with, at least the currency's decimals, at most 12: ``0.000125``, ``1.00``;
- quantities: rounded half-up to ``QUANTITY_PLACES`` decimals, trailing zeros stripped, thousands separated:
  ``137.68``, ``6.9666``, ``1,000``;
- dates: ``Jan 5, 2026`` (a month name reads the same in every country, where 05/01/2026 does not), in the
  merchant's time zone, where its periods and days begin.
"""

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from zoneinfo import ZoneInfo

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


def _grouped(number: Decimal, places: int) -> str:
    """``number`` (already rounded) with ``places`` decimals and a comma every three digits."""
    return f"{number:,.{places}f}"


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


def percent_text(rate) -> str:
    """A rate as a percentage: ``0.19`` → ``19``, ``0.0825`` → ``8.25``."""
    number = _decimal(rate)
    return "" if number is None else quantity_text(number * 100)


def _local(value: datetime | date, tz: str | None):
    if isinstance(value, datetime) and value.tzinfo is not None and tz:
        return value.astimezone(ZoneInfo(tz))
    return value


def date_text(value: datetime | date | None, tz: str | None = None) -> str:
    """``Jan 5, 2026``: the day in the merchant's time zone ``tz`` (UTC when not given)."""
    if value is None or value == "":
        return ""
    local = _local(value, tz or "UTC")
    return f"{local:%b} {local.day}, {local.year}"


def date_time_text(value: datetime | None, tz: str | None = None) -> str:
    """``Jan 5, 2026 14:30``, in the merchant's time zone."""
    if value is None or value == "":
        return ""
    local = _local(value, tz or "UTC")
    return f"{local:%b} {local.day}, {local.year} {local:%H:%M}"


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
