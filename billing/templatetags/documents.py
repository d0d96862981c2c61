"""Template filters of billing documents (invoice and credit note PDFs, the invoice and customer pages)."""

from django import template
from django.utils.safestring import mark_safe

from billing import display

register = template.Library()

# Characters a CSS string cannot hold as they are: its quotes, the escape character, control characters, and "<"
# (a "</style>" inside the string would end the style element it is written in).
_CSS_SPECIAL = frozenset('"\'\\<>&') | {chr(code) for code in range(0x20)} | {"\x7f"}


@register.filter
def css_string(value) -> str:
    """The inside of a CSS string literal (``content: "…"``): special characters as CSS escapes (``\\22 ``).

    ``escapejs`` writes JavaScript escapes (``\\u002D``), which CSS does not read: a footer showed
    ``NWCu002D2026u002D000185`` for ``NWC-2026-000185``.
    """
    text = str(value)
    return mark_safe("".join(f"\\{ord(char):x} " if char in _CSS_SPECIAL else char for char in text))


# The formatting of billing.display, for templates: {{ value|day:tz }}, {{ value|moment:tz }},
# {{ value|money:currency }}, {{ value|quantity }}. One module decides; these only pass the value on.


@register.filter
def day(value, tz=None) -> str:
    return display.date_text(value, tz)


@register.filter
def moment(value, tz=None) -> str:
    return display.date_time_text(value, tz)


@register.filter
def money(value, currency) -> str:
    return display.money_text(value, currency)


@register.filter
def quantity(value) -> str:
    return display.quantity_text(value)
