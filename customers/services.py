"""Writes for customers and billing rules.

Field formats are checked by the serializers (``customers.validators``); the rules that need the database
live here: unique external ids, the reseller parent, the billing window across partial updates, and the
currency of a customer that already has subscriptions.
"""

from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from atlas.models import Merchant
from customers import validators
from customers.models import BillingRule, Customer

CUSTOMER_FIELDS = (
    "name",
    "email",
    "currency",
    "address_line1",
    "address_line2",
    "city",
    "state",
    "postal_code",
    "country",
    "tax_rate",
    "tax_id",
    "payment_terms_days",
    "billing_starts_on",
    "billing_ends_on",
    "is_test",
    "metadata",
)


def parent_resolve(*, merchant: Merchant, parent_external_id: str | None, child: Customer | None = None):
    """The reseller parent: a customer of the same merchant, never the child itself or one of its descendants."""
    if not parent_external_id:
        return None
    parent = Customer.objects.filter(merchant=merchant, external_id=parent_external_id).first()
    if parent is None:
        raise ValidationError({"parent": f"no customer with external_id {parent_external_id!r}"})
    if child is not None and child.pk is not None:
        if parent.pk == child.pk:
            raise ValidationError({"parent": "a customer cannot be its own parent"})
        ancestor_id, seen = parent.parent_id, {parent.pk}
        while ancestor_id is not None and ancestor_id not in seen:
            if ancestor_id == child.pk:
                raise ValidationError({"parent": f"{parent_external_id!r} is a descendant of this customer"})
            seen.add(ancestor_id)
            ancestor_id = Customer.objects.filter(pk=ancestor_id).values_list("parent_id", flat=True).first()
    return parent


@transaction.atomic
def customer_create(
    *, merchant: Merchant, external_id: str, name: str, parent: str | None = None, **fields
) -> Customer:
    """Create a customer; ``external_id`` is unique per merchant, archived customers included."""
    if Customer.objects.filter(merchant=merchant, external_id=external_id).exists():
        raise ValidationError({"external_id": f"a customer with external_id {external_id!r} already exists"})
    _check_window(fields.get("billing_starts_on"), fields.get("billing_ends_on"))
    customer = Customer(
        merchant=merchant,
        external_id=external_id,
        name=name,
        parent=parent_resolve(merchant=merchant, parent_external_id=parent),
        **{key: value for key, value in fields.items() if key in CUSTOMER_FIELDS},
    )
    try:
        with transaction.atomic():
            customer.save()
    except IntegrityError:
        # A concurrent request created the same external id between the check and the insert.
        raise ValidationError({"external_id": f"a customer with external_id {external_id!r} already exists"})
    return customer


@transaction.atomic
def customer_update(*, customer: Customer, **changes) -> Customer:
    """Apply a partial update. The external id is the customer's address and never changes."""
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    if "external_id" in changes and changes.pop("external_id") != customer.external_id:
        raise ValidationError({"external_id": "cannot be changed; create a new customer instead"})
    if "parent" in changes:
        customer.parent = parent_resolve(
            merchant=customer.merchant, parent_external_id=changes.pop("parent"), child=customer
        )
    if (
        "currency" in changes
        and changes["currency"] != customer.currency
        and customer.subscriptions.exists()  # reverse relation: customers does not import billing
    ):
        raise ValidationError({"currency": "cannot change the currency of a customer with subscriptions"})
    for key, value in changes.items():
        if key in CUSTOMER_FIELDS:
            setattr(customer, key, value)
    _check_window(customer.billing_starts_on, customer.billing_ends_on)
    customer.save()
    return customer


def _check_window(starts_on, ends_on) -> None:
    try:
        validators.billing_window(starts_on, ends_on)
    except ValueError as exc:
        raise ValidationError({"billing_ends_on": str(exc)})


def customer_has_history(customer: Customer) -> bool:
    """Anything points at the customer: users, subscriptions, events, invoices, credits, children, ….

    Walks the reverse relations generically so apps added later (invoices, credits) are covered without
    the customers app importing them.
    """
    for relation in Customer._meta.related_objects:
        if relation.one_to_many or relation.one_to_one:
            accessor = relation.related_model._default_manager.filter(**{relation.field.name: customer})
            if accessor.exists():
                return True
    return False


@transaction.atomic
def customer_delete(*, customer: Customer, at: datetime | None = None) -> Customer | None:
    """Delete a customer with no history; archive (``archived_at``) one that has any.

    Returns the archived customer, or None when the row was deleted. Archiving twice keeps the first date.
    """
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    if customer.archived_at is not None:
        return customer
    if not customer_has_history(customer):
        try:
            with transaction.atomic():
                customer.delete()
            return None
        except ProtectedError:
            pass
    customer.archived_at = at or timezone.now()
    customer.save(update_fields=["archived_at", "updated_at"])
    return customer


def _check_rule_window(starts_on, ends_on) -> None:
    if starts_on and ends_on and ends_on <= starts_on:
        raise ValidationError({"ends_on": "must be after starts_on"})


def billing_rule_create(*, merchant: Merchant, **fields) -> BillingRule:
    _check_rule_window(fields.get("starts_on"), fields.get("ends_on"))
    return BillingRule.objects.create(merchant=merchant, **fields)


@transaction.atomic
def billing_rule_update(*, rule: BillingRule, **changes) -> BillingRule:
    rule = BillingRule.objects.select_for_update().get(pk=rule.pk)
    for key, value in changes.items():
        setattr(rule, key, value)
    _check_rule_window(rule.starts_on, rule.ends_on)
    rule.save()
    return rule


def billing_rule_delete(*, rule: BillingRule) -> None:
    rule.delete()
