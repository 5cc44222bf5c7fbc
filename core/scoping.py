"""The one scoping path.

Every read of household data (households, members, and later surveys and
support) starts from `communes_for(user)`: the communes a user may see.
Model managers expose it as `.for_user(user)`; views, forms, admin pages,
exports, imports and tasks all call that, never a filter of their own.
"""

from django.db.models import QuerySet

from geo.models import AdminUnit


def communes_for(user) -> QuerySet[AdminUnit]:
    """The communes inside a user's area (none for an anonymous or unbound user)."""
    communes = AdminUnit.objects.filter(level=AdminUnit.Level.COMMUNE)
    if user is None or not user.is_authenticated or not user.is_active:
        return communes.none()
    if user.is_superuser:
        return communes
    if not user.unit_id:
        return communes.none()
    role = getattr(user, "role", "")
    if role == "commune_officer":
        return communes.filter(pk=user.unit_id)
    if role == "reviewer":
        return communes.filter(parent_id=user.unit_id)
    if role == "province_admin":
        return communes.filter(province_id=user.unit_id)
    return communes.none()


def units_for(user) -> QuerySet[AdminUnit]:
    """The units a user may look at: their own unit and every unit below it."""
    units = AdminUnit.objects.all()
    if user is None or not user.is_authenticated or not user.is_active:
        return units.none()
    if user.is_superuser:
        return units
    if not user.unit_id:
        return units.none()
    role = getattr(user, "role", "")
    if role == "commune_officer":
        return units.filter(pk=user.unit_id)
    if role == "reviewer":
        return units.filter(pk=user.unit_id) | units.filter(parent_id=user.unit_id)
    if role == "province_admin":
        return units.filter(province_id=user.unit_id)
    return units.none()
