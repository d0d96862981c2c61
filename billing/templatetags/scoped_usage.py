"""``{% scoped_usage customer %}``: who used how much of their own limit, and the buckets nearest theirs."""

from django import template

from billing.usage.scoped import scoped_usage as scoped_usage_of

register = template.Library()


@register.inclusion_tag("billing/_scoped_usage.html")
def scoped_usage(customer, at=None):
    return {"scoped_limits": scoped_usage_of(customer=customer, at=at)}
