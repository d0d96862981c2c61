"""Customers records for the tenant-isolation walk: a customer, a provisioned user, a billing rule and,
when the catalog put a published plan version in ``ctx``, a subscription to it."""

from django.utils import timezone

from atlas.models import ApiKey
from billing.subscriptions.services import subscription_create
from customers.services import billing_rule_create, customer_create
from metering.provisioning import Actor, user_provision


def populate(merchant, ctx: dict) -> None:
    customer = customer_create(
        merchant=merchant,
        external_id=f"cus_walk_{merchant.pk}",
        name="Walk Customer",
        email="billing@walk.test",
        currency="USD",
    )
    actor = Actor.for_api_key(ApiKey.objects.filter(merchant=merchant).first())
    user = user_provision(
        customer=customer, external_id=f"usr_walk_{merchant.pk}", email="ann@walk.test", name="Ann", actor=actor
    )
    rule = billing_rule_create(merchant=merchant, name="Test accounts", target="customer", pattern="*-test")
    ctx.update(customer=customer, customer_user=user, billing_rule=rule)
    version = ctx.get("plan_version")
    if version is not None:
        ctx["subscription"] = subscription_create(
            merchant=merchant,
            external_id=f"sub_walk_{merchant.pk}",
            customer=customer.external_id,
            plan=version.plan.code,
            start_date=timezone.localdate(),
        )
