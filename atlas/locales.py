"""The merchant's locale: how pages and documents write money, quantities and dates for people.

One setting per merchant (``Merchant.locale``, default ``en``). The cockpit activates it for each request
(``atlas.tenancy.CockpitMerchantMiddleware``) and a job rendering a document for a merchant wraps the rendering in
``use_locale(merchant.locale)``; ``billing.display`` reads it. It is ambient (a context variable, as Django's
active language is) so that every template filter and formatter follows it without a parameter of its own.
The API and the exports are for programs: they keep exact values whatever the locale.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

DEFAULT_LOCALE = "en"
# CLDR locale identifiers (Babel), named in their own language.
LOCALE_CHOICES = [
    ("en", "English (United States)"),
    ("en_GB", "English (United Kingdom)"),
    ("en_IE", "English (Ireland)"),
    ("de", "Deutsch"),
    ("fr", "Français"),
    ("es", "Español"),
    ("it", "Italiano"),
    ("nl", "Nederlands"),
    ("pt_BR", "Português (Brasil)"),
    ("sv", "Svenska"),
    ("da", "Dansk"),
    ("nb", "Norsk bokmål"),
    ("fi", "Suomi"),
    ("pl", "Polski"),
    ("ja", "日本語"),
]
LOCALES = frozenset(code for code, _ in LOCALE_CHOICES)

_active: ContextVar[str] = ContextVar("atlas_locale", default=DEFAULT_LOCALE)


def current_locale() -> str:
    return _active.get()


def activate(locale: str | None):
    """Make ``locale`` the active one (an unknown or empty value: the default); returns a token for ``reset``."""
    return _active.set(locale if locale in LOCALES else DEFAULT_LOCALE)


def reset(token) -> None:
    _active.reset(token)


@contextmanager
def use_locale(locale: str | None) -> Iterator[str]:
    token = activate(locale)
    try:
        yield _active.get()
    finally:
        _active.reset(token)


def locale_example(code: str) -> str:
    """How ``code`` writes an amount and a date: ``1,234.56 · Jan 5, 2026`` (for the settings page)."""
    from datetime import date

    from babel.dates import format_skeleton
    from babel.numbers import format_decimal

    amount = format_decimal(1234.56, format="#,##0.00", locale=code)
    return f"{amount} · {format_skeleton('yMMMd', date(2026, 1, 5), locale=code)}"
