"""The customer page's payments section reads its own rows (the page is composed elsewhere; one include line)."""

from django import template

from billing.payments.selectors import payments_of_customer

register = template.Library()


@register.simple_tag
def customer_payments(customer, limit: int = 20):
    """The customer's latest payments, newest first (the customer is already the merchant's)."""
    return payments_of_customer(customer=customer, limit=limit)
