"""Recording reads of personal data (Decree 13/2023/NĐ-CP).

`record()` is called once per request by the views that show whole personal IDs
and by every export and download, after the scoping path has let the read
through. One insert, never one per person: the count says how many.
"""

import logging

from .models import PersonalDataAccess

logger = logging.getLogger(__name__)

Kind = PersonalDataAccess.Kind


def record(request, kind: str, *, unit=None, household=None, count: int | None = None,
           whole_ids: bool = False, detail: str = "") -> PersonalDataAccess:
    """Log that `request.user` read personal data of `kind`.

    `unit` is the unit whose data was read (a household's commune, the commune an
    export was limited to); by default the household's commune, else the user's
    own unit, that is their whole area.
    """
    user = request.user
    if unit is None and household is not None:
        unit_id = household.commune_id
    else:
        unit_id = unit.pk if unit is not None else getattr(user, "unit_id", None)
    entry = PersonalDataAccess.objects.create(
        user=user, kind=kind, unit_id=unit_id, household=household, count=count, whole_ids=whole_ids,
        detail=detail[:200], path=request.get_full_path()[:500],
    )
    logger.info("personal data read: %s by %s (%s rows)", kind, user.pk, count)
    return entry
