"""Reads for the audit log: one merchant's entries, filtered, and one object's history."""

from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Model, QuerySet

from atlas.audit.context import merchant_id_of
from atlas.models import AuditEntry
from billing.display import amount_text


def audited_models() -> list[type[Model]]:
    """The models the audit log records (settings.AUDITLOG_INCLUDE_TRACKING_MODELS), in settings order."""
    from django.conf import settings

    labels = [item["model"] if isinstance(item, dict) else item for item in settings.AUDITLOG_INCLUDE_TRACKING_MODELS]
    return [apps.get_model(label) for label in labels]


def type_choices() -> list[tuple[str, str]]:
    """``(app_label.model, "Verbose name")`` for the object-type filter."""
    return [(model._meta.label_lower, str(model._meta.verbose_name).capitalize()) for model in audited_models()]


def content_type_for(label: str) -> ContentType:
    app_label, model = label.split(".", 1)
    return ContentType.objects.get_by_natural_key(app_label, model)


def entries_for_merchant(*, merchant) -> QuerySet:
    return AuditEntry.objects.filter(merchant=merchant).select_related("content_type").order_by("-timestamp", "-pk")


def object_history(*, instance: Model, limit: int | None = None) -> QuerySet:
    """Every entry of one object, newest first, within the object's merchant."""
    entries = AuditEntry.objects.filter(
        merchant_id=merchant_id_of(instance),
        content_type=ContentType.objects.get_for_model(instance),
        object_pk=str(instance.pk),
    ).order_by("-timestamp", "-pk")
    return entries[:limit] if limit else entries


def change_rows(entry: AuditEntry) -> list[dict]:
    """``[{"field": verbose name, "old": …, "new": …}]`` for display, in the model's field order."""
    changes = entry.changes if isinstance(entry.changes, dict) else {}
    model = entry.content_type.model_class() if entry.content_type_id else None
    order, names, decimals = {}, {}, set()
    if model is not None:
        for position, field in enumerate(model._meta.concrete_fields):
            order[field.name] = position
            names[field.name] = str(field.verbose_name)
            if isinstance(field, models.DecimalField):
                decimals.add(field.name)
    rows = []
    for name in sorted(changes, key=lambda key: (order.get(key, len(order)), key)):
        value = changes[name]
        if isinstance(value, list | tuple) and len(value) == 2:
            old, new = value
        else:  # many-to-many entries: {"type": "m2m", "operation", "objects"}
            old, new = "", value
        shown = _decimal_shown if name in decimals else _shown
        rows.append({"field": names.get(name, name), "name": name, "old": shown(old), "new": shown(new)})
    return rows


def _shown(value) -> str:
    return "—" if value in (None, "None", "") else str(value)


def _decimal_shown(value) -> str:
    """A stored decimal in the merchant's number format ("-1122.9400" reads "-1,122.94")."""
    return amount_text(value) or _shown(value)


def entry_rows(entries) -> list[dict]:
    """Entries ready for a template: the entry, its type's name, and its change rows."""
    rows = []
    for entry in entries:
        model = entry.content_type.model_class() if entry.content_type_id else None
        kind = str(model._meta.verbose_name).capitalize() if model is not None else entry.content_type.model
        label = f"{entry.content_type.app_label}.{entry.content_type.model}"
        rows.append({"entry": entry, "type": kind, "type_label": label, "changes": change_rows(entry)})
    return rows
