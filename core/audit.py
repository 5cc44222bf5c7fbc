"""Recording who changed what.

Services call `snapshot()` before and after a change and `record()` (or
`record_many()` for bulk writes) with the difference. Values are kept as
plain JSON: a related record by its text, a date as ISO text, so the history
reads the same after the related record changes.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import models

from .models import AuditEvent

Snapshot = dict[str, Any]


def _plain(value: Any) -> Any:
    if isinstance(value, models.Model):
        return str(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


def snapshot(instance: models.Model, fields: Iterable[str]) -> Snapshot:
    """The audited values of a record, as JSON-ready values."""
    values = {}
    for name in fields:
        field_obj = instance._meta.get_field(name)
        if field_obj.is_relation:
            related_id = getattr(instance, field_obj.attname)
            values[name] = str(getattr(instance, name)) if related_id is not None else None
        else:
            values[name] = _plain(getattr(instance, name))
    return values


def diff(before: Snapshot, after: Snapshot) -> dict[str, list[Any]]:
    """{field: [before, after]} for the fields whose value changed."""
    return {
        name: [before.get(name), value]
        for name, value in after.items()
        if before.get(name) != value
    }


@dataclass
class Change:
    instance: models.Model
    action: str
    changes: dict[str, list[Any]] = field(default_factory=dict)
    household_id: int | None = None
    reason: str = ""


def _event(change: Change, *, actor, source: str, batch: str = "") -> AuditEvent:
    return AuditEvent(
        actor=actor if getattr(actor, "pk", None) else None,
        source=source,
        action=change.action,
        content_type=ContentType.objects.get_for_model(change.instance),
        object_id=change.instance.pk,
        object_repr=str(change.instance)[:200],
        household_id=change.household_id,
        changes=change.changes,
        reason=change.reason,
        batch=batch,
    )


def record(change: Change, *, actor, source: str, batch: str = "") -> AuditEvent | None:
    """Save one event; an update that changed nothing leaves no trace."""
    if change.action == AuditEvent.Action.UPDATE and not change.changes:
        return None
    event = _event(change, actor=actor, source=source, batch=batch)
    event.save()
    return event


def record_many(changes: Iterable[Change], *, actor, source: str, batch: str = "") -> int:
    """Save many events in few queries (imports, bulk operations, the demo)."""
    events = [
        _event(change, actor=actor, source=source, batch=batch)
        for change in changes
        if change.action != AuditEvent.Action.UPDATE or change.changes
    ]
    AuditEvent.objects.bulk_create(events, batch_size=2000)
    return len(events)


def record_write(instance: models.Model, fields: Iterable[str], before: Snapshot | None, *, actor, source: str,
                 household_id: int | None = None, reason: str = "", action: str | None = None,
                 batch: str = "") -> AuditEvent | None:
    """Record that `instance` was created (`before` is None) or changed, with each of `fields`
    before and after; the services of every record call this after they save."""
    after = snapshot(instance, fields)
    if action is None:
        action = AuditEvent.Action.CREATE if before is None else AuditEvent.Action.UPDATE
    change = Change(instance, action, diff(before or {}, after), household_id, reason)
    return record(change, actor=actor, source=source, batch=batch)
