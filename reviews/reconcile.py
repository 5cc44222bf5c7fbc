"""Bring the register's classification back to what the commune's decisions recognised.

A household's classification on the register (`Household.classification`,
`classification_year`) means one thing: the category recognised by the
latest commune decision (Mẫu 02, Decision 24/2021/QĐ-TTg), kept by
`services.record_decision`. Earlier versions let an import or the household
form set it without any decision; the overview and the household list
counted those households, the official figures did not. `reconcile_register`
gives every household whose register differs from its latest official status
that status's category (none when it has no status), with an audit event per
household holding the old and the new values and the reason, so nothing is
lost. A data migration runs it once; it takes the models as arguments so the
migration passes its historical ones.
"""

from __future__ import annotations

from collections import defaultdict

from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from households.summaries import commune_counts

NONE = "none"
BATCH = "classification-reconcile"
CHUNK = 2000


def _latest_statuses(HouseholdStatus) -> dict[int, tuple[str, int, str]]:
    """{household id: (category, year, decision number)} of each household's latest status, ordered as
    the official figures order them (reports.compute: year, decision date, id, newest first)."""
    latest: dict[int, tuple[str, int, str]] = {}
    rows = (HouseholdStatus.objects.order_by("household_id", "-year", "-decided_on", "-id")
            .values_list("household_id", "category", "year", "round__decision_number"))
    for household_id, category, year, number in rows.iterator(chunk_size=CHUNK):
        latest.setdefault(household_id, (category, year, number))
    return latest


def reconcile_register(*, Household, HouseholdStatus, AuditEvent, ContentType, CommuneSummary,
                       source: str = "command") -> int:
    """Set each differing household's classification to its latest official status; returns how many changed."""
    latest = _latest_statuses(HouseholdStatus)
    household_type, _created = ContentType.objects.get_or_create(app_label="households", model="household")
    targets: dict[tuple[str, int | None], list[int]] = defaultdict(list)
    events, communes = [], set()
    rows = Household.objects.order_by("pk").values_list(
        "pk", "classification", "classification_year", "commune_id", "code", "head_name")
    for pk, classification, year, commune_id, code, head_name in rows.iterator(chunk_size=CHUNK):
        category, status_year, number = latest.get(pk, (NONE, None, ""))
        new_year = None if category == NONE else status_year
        if (classification, year) == (category, new_year):
            continue
        targets[(category, new_year)].append(pk)
        communes.add(commune_id)
        changes = {}
        if classification != category:
            changes["classification"] = [classification, category]
        if year != new_year:
            changes["classification_year"] = [year, new_year]
        if pk in latest:
            reason = _("Classification not recognised by any decision: the register now holds the latest "
                       "decision's (%(number)s).") % {"number": number}
        else:
            reason = _("Classification not recognised by any decision: no decision has classified this "
                       "household.")
        events.append(AuditEvent(
            actor=None, source=source, action="update", content_type=household_type, object_id=pk,
            object_repr=f"{code} – {head_name}"[:200], household_id=pk, changes=changes, reason=reason,
            batch=BATCH))
    now = timezone.now()
    for (category, year), pks in targets.items():
        for start in range(0, len(pks), CHUNK):
            Household.objects.filter(pk__in=pks[start:start + CHUNK]).update(
                classification=category, classification_year=year, version=F("version") + 1, updated_at=now)
    AuditEvent.objects.bulk_create(events, batch_size=CHUNK)
    for commune_id in sorted(communes):
        counts = commune_counts(Household.objects.filter(commune_id=commune_id))
        CommuneSummary.objects.update_or_create(commune_id=commune_id, defaults=counts)
    return len(events)
