"""Audit entries for writes that django-auditlog's signals do not see.

``bulk_create``, ``QuerySet.update`` and raw ``executemany`` send no model signals. Services that write that
way on behalf of a person or an API key (the CSV imports, revoking a key, publishing or archiving a plan)
call these helpers, so the audit log still holds one entry per changed object with its old and new values,
attributed to the actor of :mod:`atlas.audit.context`. Entries are written with ``bulk_create`` too: an
import of 50,000 customers adds 50,000 entries in a few statements.
"""

from collections.abc import Iterable

from auditlog.context import auditlog_disabled
from auditlog.diff import model_instance_diff
from auditlog.registry import auditlog as registry
from django.contrib.contenttypes.models import ContentType
from django.db.models import Model
from django.utils import timezone
from django.utils.encoding import smart_str

from atlas.audit.context import current_actor, merchant_id_of
from atlas.models import AuditEntry, own_field_changes

BATCH = 2_000


def _enabled(model: type[Model]) -> bool:
    return not auditlog_disabled.get() and registry.contains(model)


def _text(value) -> str:
    return "None" if value is None else smart_str(value)


def _entry(instance: Model, action: int, changes: dict, *, at, actor) -> AuditEntry:
    return AuditEntry(
        content_type=ContentType.objects.get_for_model(instance),
        object_pk=str(instance.pk),
        object_id=instance.pk if isinstance(instance.pk, int) else None,
        object_repr=smart_str(instance)[:1000],
        action=action,
        changes=changes,
        timestamp=at,
        merchant_id=merchant_id_of(instance),
        actor=actor.user,
        actor_email=(getattr(actor.user, "email", "") or None) if actor.user is not None else None,
        actor_api_key=actor.api_key,
        actor_label=actor.label[:255],
        remote_addr=actor.remote_addr,
    )


def record_created(objects: Iterable[Model]) -> int:
    """One "create" entry per object inserted with ``bulk_create`` (primary keys must be set)."""
    objects = list(objects)
    if not objects or not _enabled(type(objects[0])):
        return 0
    at, actor = timezone.now(), current_actor()
    model = type(objects[0])
    entries = [
        _entry(obj, AuditEntry.Action.CREATE, own_field_changes(model, model_instance_diff(None, obj) or {}),
               at=at, actor=actor)
        for obj in objects
    ]  # fmt: skip
    AuditEntry.objects.bulk_create(entries, batch_size=BATCH)
    return len(entries)


def record_changes(changes: Iterable[tuple[Model, dict[str, tuple]]]) -> int:
    """One "update" entry per ``(object, {field: (old, new)})`` written without ``save()``; unchanged skipped."""
    at, actor, entries = timezone.now(), current_actor(), []
    for instance, fields in changes:
        if not entries and not _enabled(type(instance)):
            return 0
        diff = {name: [_text(old), _text(new)] for name, (old, new) in fields.items() if _text(old) != _text(new)}
        if diff:
            entries.append(_entry(instance, AuditEntry.Action.UPDATE, diff, at=at, actor=actor))
    AuditEntry.objects.bulk_create(entries, batch_size=BATCH)
    return len(entries)


def record_update(*, old: Model, new: Model) -> AuditEntry | None:
    """The entry for one object changed by ``QuerySet.update``: ``old`` as read before, ``new`` after."""
    if not _enabled(type(new)):
        return None
    changes = model_instance_diff(old, new)
    if not changes:
        return None
    return AuditEntry.objects.log_create(new, action=AuditEntry.Action.UPDATE, changes=changes)
