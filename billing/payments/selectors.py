"""Reads of payments: a customer's latest, an invoice's with their refunds."""

from django.db.models import QuerySet

from billing.payments.models import Payment


def payments_of_customer(*, customer, limit: int = 20) -> list[Payment]:
    """The customer's latest payments, newest first."""
    return list(
        Payment.objects.filter(customer=customer).select_related("invoice").order_by("-paid_at", "-pk")[:limit]
    )


def payments_of_invoice(invoice) -> QuerySet:
    """An invoice's payments in the order they were paid, with their refunds."""
    return Payment.objects.filter(invoice=invoice).prefetch_related("refunds").order_by("paid_at", "pk")
