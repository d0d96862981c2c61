"""Field rules for a customer, shared by the API serializers and the CSV import.

Plain functions, no database: each takes a raw wire value, returns the normalised value, or raises
``ValueError`` with the reason a merchant reads next to the field name. The CSV import calls them for
50,000 rows, so they stay cheap (no serializer machinery per row).
"""

from datetime import date
from decimal import Decimal
from functools import cache

from babel import Locale
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email

from atlas import text as text_rule
from atlas.money import is_currency, parse_decimal

MAX_LENGTHS = {
    "external_id": 255,
    "name": 255,
    "address_line1": 255,
    "address_line2": 255,
    "city": 100,
    "state": 100,
    "postal_code": 20,
    "tax_id": 64,
}
# Customer metadata: a merchant's own labels (CRM ids, segments), not a document store.
METADATA_MAX_KEYS = 50
METADATA_MAX_KEY_LENGTH = 40
METADATA_MAX_VALUE_LENGTH = 500
TRUE_WORDS = frozenset({"true", "1", "yes", "y", "t"})
FALSE_WORDS = frozenset({"false", "0", "no", "n", "f", ""})
# CLDR territory codes that are not countries.
_NOT_COUNTRIES = frozenset({"ZZ", "EU", "EZ", "UN", "QO"})


@cache
def _countries() -> frozenset[str]:
    return frozenset(
        code for code in Locale("en").territories if len(code) == 2 and code.isalpha() and code not in _NOT_COUNTRIES
    )


def text(value, field: str, *, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ValueError("must be a string")
    value = text_rule.check(value).strip()
    if required and not value:
        raise ValueError("is required")
    limit = MAX_LENGTHS.get(field)
    if limit and len(value) > limit:
        raise ValueError(f"must be at most {limit} characters")
    return value


def metadata_key(key) -> str:
    """A metadata key: 1 to 40 characters of text (the reason names what is wrong with it)."""
    if not isinstance(key, str):
        raise ValueError("keys must be strings")
    reason = text_rule.problem(key)
    if reason:
        raise ValueError(f"the key {reason}")
    if not key.strip():
        raise ValueError("keys must not be blank")
    if len(key) > METADATA_MAX_KEY_LENGTH:
        raise ValueError(f"keys must be at most {METADATA_MAX_KEY_LENGTH} characters")
    return key


def metadata_value(value) -> str:
    """A metadata value: text of at most 500 characters ("" removes the key in a CSV import)."""
    if not isinstance(value, str):
        raise ValueError("must be a string")
    text_rule.check(value)
    if len(value) > METADATA_MAX_VALUE_LENGTH:
        raise ValueError(f"must be at most {METADATA_MAX_VALUE_LENGTH} characters")
    return value


def metadata(value) -> dict[str, str]:
    """A whole metadata object; ``MetadataError`` carries ``{key: reason}`` for every bad entry."""
    if not isinstance(value, dict):
        raise ValueError('must be an object of text values, such as {"crm_id": "42"}')
    if len(value) > METADATA_MAX_KEYS:
        raise ValueError(f"must have at most {METADATA_MAX_KEYS} keys (it has {len(value)})")
    errors: dict[str, str] = {}
    for key, item in value.items():
        try:
            metadata_key(key)
            metadata_value(item)
        except ValueError as exc:
            errors[text_rule.printable(str(key))] = str(exc)
    if errors:
        raise MetadataError(errors)
    return value


class MetadataError(ValueError):
    def __init__(self, errors: dict[str, str]):
        super().__init__(next(iter(errors.values())))
        self.errors = errors


def external_id(value) -> str:
    value = text(value, "external_id", required=True)
    if "/" in value:
        raise ValueError("must not contain '/' (it is used in URLs)")
    return value


def currency(value) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("is required")
    code = value.strip().upper()
    if not is_currency(code):
        raise ValueError(f"{value!r} is not a known ISO 4217 currency")
    return code


def country(value) -> str:
    value = text(value, "country")
    if not value:
        return ""
    code = value.upper()
    if len(code) != 2 or code not in _countries():
        raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code")
    return code


def email(value) -> str:
    value = text(value, "email")
    if not value:
        return ""
    if len(value) > 254:
        raise ValueError("must be at most 254 characters")
    try:
        validate_email(value)
    except DjangoValidationError:
        raise ValueError(f"{value!r} is not a valid email address")
    return value


def tax_rate(value) -> Decimal | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    rate = parse_decimal(value)
    if rate < 0 or rate > 1:
        raise ValueError("must be a fraction between 0 and 1 (0.2 is 20%)")
    if -rate.as_tuple().exponent > 6:
        raise ValueError("must have at most 6 decimal places")
    return rate


def optional_date(value) -> date | None:
    if value is None or isinstance(value, date):
        return value
    if not isinstance(value, str):
        raise ValueError("must be a date such as 2025-01-31")
    value = value.strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a date (use YYYY-MM-DD)")


def boolean(value) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in TRUE_WORDS | FALSE_WORDS:
        return value.strip().lower() in TRUE_WORDS
    raise ValueError("must be true or false")


def billing_window(starts_on: date | None, ends_on: date | None) -> None:
    if starts_on and ends_on and ends_on <= starts_on:
        raise ValueError("must be after billing_starts_on")


# EU VAT numbers start with their member state's code (Greece: EL); python-stdnum knows each one's check digits.
EU_VAT_PREFIXES = frozenset({"AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "EL", "ES", "FI", "FR", "HR", "HU",
                             "IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK", "XI"})


def tax_id(value) -> str:
    """A customer's tax number. One that starts with an EU member state's code is an EU VAT number: checked with
    python-stdnum (length, format, check digits) and stored compact (``DE 136 695 976`` → ``DE136695976``). Any other
    (a US EIN, a UK or Swiss number, …) is free text up to 64 characters: formats Atlas does not know are not
    guessed at."""
    from stdnum.eu import vat
    from stdnum.exceptions import ValidationError as NumberError

    value = text(value, "tax_id")
    compact = "".join(value.split()).upper().replace("-", "").replace(".", "")
    if compact[:2] in EU_VAT_PREFIXES and any(ch.isdigit() for ch in compact[2:3]):
        try:
            return vat.validate(compact)
        except NumberError as exc:
            raise ValueError(f"{value!r} is not a valid EU VAT number: {exc}") from None
    return value


def payment_terms_days(value) -> int | None:
    """Net terms in days (0 to 365), or null for the merchant's."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("must be a whole number of days")
    try:
        days = int(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a whole number of days") from None
    if not 0 <= days <= 365:
        raise ValueError("must be between 0 and 365 days")
    return days
