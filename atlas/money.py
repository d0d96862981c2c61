"""Money helpers: exact Decimal arithmetic and the one rounding step.

Every amount in Atlas is a ``Decimal``. Lines are computed at full precision
and rounded once, half-up, to the currency's minor unit (SPEC §2). The minor
units come from CLDR via Babel, not from a hand-kept list.
"""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import cache, lru_cache

from babel.numbers import get_currency_precision, list_currencies

ZERO = Decimal("0")


@cache
def _known_currencies() -> frozenset[str]:
    return frozenset(list_currencies())


def is_currency(code: str) -> bool:
    return isinstance(code, str) and code in _known_currencies()


@lru_cache(maxsize=512)
def minor_units(currency: str) -> int:
    """Digits after the decimal point for ``currency`` (USD 2, JPY 0, BHD 3)."""
    if not is_currency(currency):
        raise ValueError(f"unknown currency {currency!r}")
    return get_currency_precision(currency)


@lru_cache(maxsize=512)
def quantum(currency: str) -> Decimal:
    return Decimal(1).scaleb(-minor_units(currency))


def round_line(amount: Decimal, currency: str) -> Decimal:
    """The single rounding step: half-up to the currency's minor unit."""
    return amount.quantize(quantum(currency), rounding=ROUND_HALF_UP)


def to_str(amount: Decimal | None, currency: str) -> str | None:
    """An amount as JSON carries it: a string with the currency's decimals."""
    if amount is None:
        return None
    return str(round_line(Decimal(amount), currency))


def parse_decimal(value) -> Decimal:
    """Parse a wire value (string or int) into a finite Decimal.

    Floats are refused: they cannot carry an exact amount.
    Raises ``ValueError`` with a human reason.
    """
    if isinstance(value, bool | float):
        raise ValueError("must be a decimal string such as \"12.50\", not a float")
    if isinstance(value, int):
        return Decimal(value)
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a decimal string such as \"12.50\"")
    try:
        result = Decimal(value.strip())
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a decimal number") from None
    if not result.is_finite():
        raise ValueError("must be a finite number")
    return result
