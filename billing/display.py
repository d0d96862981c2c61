"""How the cockpit shows amounts to people (the API keeps exact values: ``atlas.money.to_str``)."""

from decimal import Decimal

from atlas.money import to_str


def money_text(amount: Decimal | None, currency: str) -> str:
    """An amount for people: thousands separated, the currency's decimals."""
    if amount is None:
        return ""
    text = to_str(amount, currency)
    whole, _, fraction = text.partition(".")
    sign = "-" if whole.startswith("-") else ""
    whole = f"{int(whole.lstrip('-')):,}"
    return f"{sign}{whole}{'.' + fraction if fraction else ''}"
