"""``{% load audit %}{% audit_history obj %}``: one object's recorded changes, for any cockpit page.

``{% audit_history obj limit=10 %}`` shows the newest ``limit`` entries (default 20) with a link to the full,
filtered Audit log page. ``{% audit_history "atlas.Membership" %}`` shows the latest changes of one type of
record for the page's merchant (the Team page uses it).
"""

from urllib.parse import urlencode

from django import template
from django.urls import reverse

from atlas.audit import selectors

register = template.Library()


@register.inclusion_tag("atlas/_audit_history.html", takes_context=True)
def audit_history(context, subject, limit: int = 20, title: str = "History"):
    merchant = context.get("merchant")
    if isinstance(subject, str):
        entries = selectors.entries_for_merchant(merchant=merchant).filter(
            content_type=selectors.content_type_for(subject.lower())
        )[:limit] if merchant is not None else []  # fmt: skip
        query = {"type": subject.lower()}
    else:
        entries = selectors.object_history(instance=subject, limit=limit)
        if merchant is not None:
            entries = [entry for entry in entries if entry.merchant_id == merchant.pk]
        query = {"type": subject._meta.label_lower, "object_id": subject.pk}
    return {
        "title": title,
        "rows": selectors.entry_rows(entries),
        "full_log": f"{reverse('cockpit:audit-log')}?{urlencode(query)}",
    }
