"""Shared model field shapes so every app stores money and quantities alike."""

from django.db import models


def money_field(**kwargs) -> models.DecimalField:
    """Amounts: up to 15 integer digits and 4 decimals (every ISO 4217 minor unit fits)."""
    kwargs.setdefault("max_digits", 19)
    kwargs.setdefault("decimal_places", 4)
    return models.DecimalField(**kwargs)


def quantity_field(**kwargs) -> models.DecimalField:
    """Usage quantities: weighted sums are fractional, so keep 10 decimals."""
    kwargs.setdefault("max_digits", 30)
    kwargs.setdefault("decimal_places", 10)
    return models.DecimalField(**kwargs)


def rate_field(**kwargs) -> models.DecimalField:
    """Tax rates as fractions (0.2 = 20%)."""
    kwargs.setdefault("max_digits", 7)
    kwargs.setdefault("decimal_places", 6)
    return models.DecimalField(**kwargs)
