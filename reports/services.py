"""Writes of the reports app: a unit's annual target.

A province administrator sets the targets of the province and of every district
and commune in it; a reviewer those of the communes of their unit (the unit above
the commune reviews and steers them); a superuser any. One target per unit, year
and kind: setting it again updates it, recording who set it and when.
"""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from core.permissions import Action, can
from core.scoping import units_for
from geo.models import AdminUnit

from .models import Target

# Ranges of a target's value by kind (percent, percentage points, households).
LIMITS = {
    Target.Kind.RATE: (Decimal(0), Decimal(100)),
    Target.Kind.REDUCTION: (Decimal("0.01"), Decimal(100)),
    Target.Kind.ESCAPES: (Decimal(1), Decimal(1_000_000)),
}
FIRST_YEAR, LAST_YEAR = 2000, 2100


def target_units(user):
    """The units whose targets a user may set (a queryset; empty for other roles)."""
    units = units_for(user)
    if user.is_superuser:
        return units
    role = getattr(user, "role", "")
    if role == "province_admin":
        return units
    if role == "reviewer":
        return units.filter(parent_id=user.unit_id, level=AdminUnit.Level.COMMUNE)
    return units.none()


def can_set_targets(user) -> bool:
    return can(user, Action.SET_TARGETS)


def set_target(*, actor, unit: AdminUnit, year: int, kind: str, value: Decimal) -> tuple[Target, bool]:
    """Set (or update) a unit's target of a year; returns the target and whether it is new."""
    if not can_set_targets(actor):
        raise PermissionDenied(_("Only a province administrator or a reviewer sets targets."))
    if not units_for(actor).filter(pk=unit.pk).exists():
        raise ValidationError({"unit": _("No such unit in your area.")})
    if not target_units(actor).filter(pk=unit.pk).exists():
        raise PermissionDenied(_("A reviewer sets the targets of the communes of their unit only."))
    errors = {}
    if not FIRST_YEAR <= int(year) <= LAST_YEAR:
        errors["year"] = _("The year must be between %(first)d and %(last)d.") % {"first": FIRST_YEAR,
                                                                                  "last": LAST_YEAR}
    if kind not in Target.Kind.values:
        errors["kind"] = _("Choose a kind of target.")
    else:
        low, high = LIMITS[Target.Kind(kind)]
        value = Decimal(value)
        if not low <= value <= high:
            errors["value"] = _("The value must be between %(low)s and %(high)s.") % {"low": low, "high": high}
        elif kind == Target.Kind.ESCAPES and value != value.to_integral_value():
            errors["value"] = _("A number of households is a whole number.")
        elif value.as_tuple().exponent < -2:
            errors["value"] = _("At most two decimals.")
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        # The row lock makes two people setting the same target at once update one row in turn.
        existing = Target.objects.select_for_update().filter(unit=unit, year=year, kind=kind).first()
        if existing is not None:
            existing.value, existing.set_by = value, actor
            existing.save(update_fields=["value", "set_by", "set_at"])
            return existing, False
        return Target.objects.create(unit=unit, year=year, kind=kind, value=value, set_by=actor), True
