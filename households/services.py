"""Every write to the registry goes through these functions.

They check the user's right and area, normalise text to NFC, keep the derived
columns (head's name, search text, member count, ethnic-minority flag) true,
lock the household row, refuse a save made from an out-of-date copy, record
an audit event for every created, changed or archived record, and queue the
refresh of the commune's figures once the transaction commits.
"""

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.audit import Change, diff, record, record_many, snapshot
from core.models import AuditEvent
from core.permissions import Action, in_area, require
from core.text import fold, nfc
from geo.models import AdminUnit

from .models import Ethnicity, Household, Member, Village
from .validators import PersonalId, clean_personal_id

HOUSEHOLD_FIELDS = (
    "commune", "village", "code", "head_name", "area", "is_farm", "phone",
    "has_meritorious_member", "is_social_protection", "classification", "classification_year",
)
# The fields a person edits; the rest are derived. The classification is not among them: on the
# register it is the category recognised by the commune's latest decision (Mẫu 02, Decision
# 24/2021/QĐ-TTg), written only by the review's decision service, so the overview, the list and the
# official figures count the same households.
HOUSEHOLD_EDITABLE = (
    "village", "code", "area", "is_farm", "phone", "has_meritorious_member",
    "is_social_protection",
)
MEMBER_FIELDS = (
    "full_name", "sex", "birth_date", "birth_year", "personal_id", "ethnicity", "relation",
    "has_health_insurance",
)
TEXT_FIELDS = {"code", "phone", "full_name", "personal_id", "name"}
RELATIONS = frozenset(Member.Relation.values)
SEXES = frozenset(Member.Sex.values)
PHONE = re.compile(r"^\+?[0-9][0-9 .\-]{6,18}[0-9]$")
CODE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.\-/]{0,19}$")


class StaleEdit(Exception):
    """The record changed since the user opened it; their save was refused."""

    def __init__(self, household: Household):
        self.household = household
        super().__init__(_("This household was changed by %(user)s at %(time)s after you opened it.") % {
            "user": household.updated_by or _("another user"),
            "time": timezone.localtime(household.updated_at).strftime("%H:%M %d/%m/%Y"),
        })


@dataclass
class MemberInput:
    """One member row from a form or an import. `member` is None for a new member."""

    values: dict[str, Any]
    member: Member | None = None
    archive_reason: str = ""


@dataclass
class _Pending:
    changes: list[Change] = field(default_factory=list)


# --- rights -----------------------------------------------------------------

def check_can_edit(actor, commune: AdminUnit, *, importing: bool = False) -> None:
    """Raise PermissionDenied unless the actor may write households of this commune.

    Commune officers keep their register, by a form, the admin or a file; the
    other roles change no household, whatever the path (core.permissions).
    """
    require(actor, Action.IMPORT_HOUSEHOLDS if importing else Action.EDIT_HOUSEHOLDS, commune)


def check_not_archived(household: Household) -> None:
    """An archived household is read, not changed: it is restored first."""
    if household.is_archived:
        raise ValidationError({"__all__": [_("An archived household cannot be edited; restore it first.")]})


# --- villages ---------------------------------------------------------------

def _village_taken(name: str) -> ValidationError:
    return ValidationError({"name": _("The commune already has a village named “%(name)s”.") % {"name": name}})


def check_village_name(commune: AdminUnit, name: str) -> str:
    """The name a new village of `commune` would take (NFC), or ValidationError saying why not."""
    name = nfc(name)
    if not name:
        raise ValidationError({"name": _("Enter the village name.")})
    if not name[0].isalnum():
        raise ValidationError({"name": _("A village name begins with a letter or a digit.")})
    if Village.objects.filter(commune=commune, search_name=fold(name)).exists():
        raise _village_taken(name)
    return name


def create_village(*, actor, commune: AdminUnit, name: str, source: str = AuditEvent.Source.FORM) -> Village:
    check_can_edit(actor, commune)
    name = check_village_name(commune, name)
    taken = _village_taken(name)
    try:
        # Two tabs adding the same village pass the check above together; the
        # unique constraint (commune, search_name) stops the second insert.
        with transaction.atomic():
            village = Village.objects.create(commune=commune, name=name, search_name=fold(name))
    except IntegrityError:
        raise taken from None
    record(Change(village, AuditEvent.Action.CREATE, diff({}, snapshot(village, ("commune", "name")))),
           actor=actor, source=source)
    return village


def get_or_create_village(commune: AdminUnit, name: str) -> Village:
    """For imports and the demo: the village of that name (accents ignored), made if new."""
    name = nfc(name)
    village, _created = Village.objects.get_or_create(
        commune=commune, search_name=fold(name), defaults={"name": name}
    )
    return village


# --- validation ---------------------------------------------------------------

def clean_member_values(values: dict[str, Any], *, prefix: str = "", today: date | None = None) -> dict[str, Any]:
    """Normalise and check one member's values; errors name the field. An import
    checking many rows passes `today` (read once) instead of reading the clock per row."""
    cleaned = dict(values)
    checked_id = cleaned.pop("personal_id", "")
    if not isinstance(checked_id, PersonalId):  # a PersonalId was checked by the caller (an import)
        cleaned["personal_id"], checked_id = checked_id, None
    for name in TEXT_FIELDS & cleaned.keys():
        cleaned[name] = nfc(cleaned[name])
    errors: dict[str, list[str]] = {}
    if not cleaned.get("full_name"):
        errors.setdefault("full_name", []).append(_("Enter the member's full name."))
    elif not cleaned["full_name"][0].isalpha():
        # Also keeps spreadsheet formulas ("=HYPERLINK(…)") out of the register.
        errors.setdefault("full_name", []).append(
            _("A name begins with a letter (got “%(value)s”).") % {"value": cleaned["full_name"]})
    birth_date = cleaned.get("birth_date")
    birth_year = cleaned.get("birth_year")
    if birth_date and not birth_year:
        cleaned["birth_year"] = birth_year = birth_date.year
    today = today or timezone.localdate()
    this_year = today.year
    if not birth_year:
        errors.setdefault("birth_year", []).append(_("Enter the date or at least the year of birth."))
    elif not 1900 <= birth_year <= this_year:
        errors.setdefault("birth_year", []).append(
            _("The year of birth must be between 1900 and %(year)d.") % {"year": this_year})
    if birth_date and birth_year and birth_date.year != birth_year:
        errors.setdefault("birth_year", []).append(_("The year of birth does not match the date of birth."))
    if birth_date and birth_date > today:
        errors.setdefault("birth_date", []).append(_("The date of birth is in the future."))
    if not isinstance(cleaned.get("ethnicity"), Ethnicity):
        errors.setdefault("ethnicity", []).append(_("Choose the ethnic group."))
    if cleaned.get("relation") not in RELATIONS:
        errors.setdefault("relation", []).append(_("Choose the relation to the household head."))
    if cleaned.get("sex") not in SEXES:
        errors.setdefault("sex", []).append(_("Choose the sex."))
    try:
        pid = checked_id or clean_personal_id(
            cleaned.get("personal_id", ""), sex=cleaned.get("sex"),
            birth_year=birth_year if "birth_year" not in errors else None,
        )
        cleaned["personal_id"] = pid.value
        cleaned["personal_id_is_legacy"] = pid.is_legacy
    except ValidationError as exc:
        errors.setdefault("personal_id", []).extend(exc.messages)
    if errors:
        raise ValidationError({f"{prefix}{k}": v for k, v in errors.items()})
    return cleaned


def check_code_free(commune: AdminUnit, code: str, household: Household | None = None) -> None:
    """ValidationError on "code" when another household of the commune has `code`."""
    clash = Household.objects.filter(commune=commune, code=code)
    if household is not None and household.pk:
        clash = clash.exclude(pk=household.pk)
    if clash.exists():
        raise ValidationError({"code": _("The commune already has a household with code %(code)s.") % {"code": code}})


def personal_id_taken_message(pid: str, *, code: str, commune_code: str, in_area: bool) -> str:
    """What a user is told when a personal ID already belongs to a current member of another household.

    Inside the user's area the household is named. Outside it nothing is: the form and
    the import must not tell an officer where in the country a person is registered,
    or each of them could look up any ID. The province resolves the conflict: a reviewer
    or a province administrator finds the holder in their area by searching the whole ID
    in the admin's member list (a logged read).
    """
    if in_area:
        return _("The personal ID %(pid)s already belongs to a member of household %(code)s "
                 "of commune %(commune)s.") % {"pid": pid, "code": code, "commune": commune_code}
    return _("The personal ID %(pid)s is already registered in another household; "
             "the province must resolve it.") % {"pid": pid}


def check_members(rows: Sequence[MemberInput], household: Household | None, actor) -> None:
    """One head, no personal ID twice, none used by a member of another household."""
    current = [row for row in rows if not row.archive_reason]
    if not current:
        raise ValidationError({"__all__": [_("A household needs at least one member.")]})
    heads = [row for row in current if row.values.get("relation") == Member.Relation.HEAD]
    if len(heads) != 1:
        raise ValidationError({"__all__": [
            _("A household has exactly one head; this one has %(count)d.") % {"count": len(heads)}
        ]})
    seen: dict[str, str] = {}
    for row in current:
        pid = row.values.get("personal_id")
        if not pid:
            continue
        if pid in seen:
            raise ValidationError({"__all__": [
                _("The personal ID %(pid)s is entered for both %(a)s and %(b)s.") % {
                    "pid": pid, "a": seen[pid], "b": row.values.get("full_name")}
            ]})
        seen[pid] = row.values.get("full_name")
    if seen:
        taken = Member.objects.active().filter(personal_id__in=seen.keys())
        if household is not None:
            taken = taken.exclude(household=household)
        clash = taken.select_related("household__commune").first()
        if clash:
            commune = clash.household.commune
            visible = in_area(actor, commune)
            raise ValidationError({"__all__": [personal_id_taken_message(
                clash.personal_id, code=clash.household.code, commune_code=commune.code, in_area=visible)]})


def clean_household_values(values: dict[str, Any], commune: AdminUnit) -> dict[str, Any]:
    cleaned = {k: v for k, v in values.items() if k in HOUSEHOLD_EDITABLE}
    for name in TEXT_FIELDS & cleaned.keys():
        cleaned[name] = nfc(cleaned[name])
    errors: dict[str, str] = {}
    village = cleaned.get("village")
    if village is None:
        errors["village"] = _("Choose the village.")
    elif village.commune_id != commune.pk:
        errors["village"] = _("The village “%(name)s” is not in this commune.") % {"name": village.name}
    if not cleaned.get("area"):
        cleaned["area"] = Household.Area.URBAN if commune.is_urban else Household.Area.RURAL
    phone = cleaned.get("phone") or ""
    if phone and not PHONE.match(phone):
        errors["phone"] = _("A phone number has 8 to 15 digits, optionally starting with + "
                            "(got “%(value)s”).") % {"value": phone}
    code = cleaned.get("code") or ""
    if code and not CODE.match(code):
        errors["code"] = _("A household code uses letters, digits, “-”, “.” or “/” only (got “%(value)s”).") % {
            "value": code}
    if errors:
        raise ValidationError(errors)
    return cleaned


def next_household_code(commune: AdminUnit) -> str:
    """The next free numeric code in a commune (codes are text; numeric ones are counted)."""
    codes = Household.objects.filter(commune=commune).values_list("code", flat=True)
    numbers = [int(code) for code in codes if code.isdigit()]
    width = max((len(code) for code in codes if code.isdigit()), default=4)
    return str(max(numbers, default=0) + 1).zfill(width)


# --- derived columns ----------------------------------------------------------

def derived_values(household: Household, members: Sequence[Member]) -> dict[str, Any]:
    """The columns a household keeps from its current members (a pure function, so
    imports and the demo compute them for thousands of households without queries).
    Members need `relation`, `full_name` and `ethnicity`."""
    head = next((m for m in members if m.relation == Member.Relation.HEAD), None)
    # Names sorted so the search text does not depend on the order rows were read in.
    names = sorted(m.full_name for m in members)
    return {
        "head_name": head.full_name if head else household.head_name,
        "member_count": len(members),
        "is_ethnic_minority": bool(head and head.ethnicity.is_minority),
        "search_text": fold(" ".join([household.code, household.phone, *names])),
    }


def refresh_derived(household: Household) -> list[str]:
    """Recompute the columns kept from the members; returns the names that changed."""
    members = list(household.members.filter(is_archived=False).select_related("ethnicity"))
    new = derived_values(household, members)
    changed = [name for name, value in new.items() if getattr(household, name) != value]
    for name in changed:
        setattr(household, name, new[name])
    return changed


def queue_summary_refresh(commune_id: int) -> None:
    """Recount the commune once the transaction commits: once per commune, however
    many households of it one transaction (an import, a bulk action) changed."""
    from .tasks import refresh_commune_summary

    connection = transaction.get_connection()
    flush = getattr(connection, "_summary_flush", None)
    queued = any(callback is flush for _sids, callback, _robust in connection.run_on_commit)
    if flush is None or not queued:
        # No callback waiting in this transaction (first change, or the last one rolled back).
        communes: set[int] = set()

        def flush() -> None:
            connection._summary_flush = None  # the next transaction queues afresh
            for queued_id in sorted(communes):
                refresh_commune_summary.delay(queued_id)
            # The same changes move the report figures (reports.tasks).
            from reports.tasks import mark_dirty

            mark_dirty(communes)

        flush.communes = communes
        connection._summary_flush = flush
        transaction.on_commit(flush)
    connection._summary_flush.communes.add(commune_id)


# --- members ------------------------------------------------------------------

def _save_member_rows(
    household: Household, rows: Iterable[MemberInput], pending: _Pending, actor
) -> None:
    # Archive first, so that a person who moves from one row to another (or a head
    # replaced by another) never trips the one-head or unique-ID constraints.
    rows = sorted(rows, key=lambda row: not row.archive_reason)
    now = timezone.now()
    for row in rows:
        member = row.member
        if row.archive_reason:
            if member is None or member.is_archived:
                continue
            member.is_archived = True
            member.archived_reason = nfc(row.archive_reason)
            member.archived_at = now
            member.archived_by = actor if getattr(actor, "pk", None) else None
            member.save(update_fields=["is_archived", "archived_reason", "archived_at", "archived_by", "updated_at"])
            pending.changes.append(Change(member, AuditEvent.Action.ARCHIVE, household_id=household.pk,
                                          reason=member.archived_reason))
            continue
        values = {k: v for k, v in row.values.items() if k in (*MEMBER_FIELDS, "personal_id_is_legacy")}
        if member is None:
            member = Member(household=household, search_name=fold(values["full_name"]), **values)
            member.save()
            pending.changes.append(Change(member, AuditEvent.Action.CREATE, household_id=household.pk,
                                          changes=diff({}, snapshot(member, MEMBER_FIELDS))))
            continue
        before = snapshot(member, MEMBER_FIELDS)
        for name, value in values.items():
            setattr(member, name, value)
        member.search_name = fold(member.full_name)
        changes = diff(before, snapshot(member, MEMBER_FIELDS))
        if changes:
            member.save()
            pending.changes.append(Change(member, AuditEvent.Action.UPDATE, changes=changes,
                                          household_id=household.pk))


# --- households -----------------------------------------------------------------

@transaction.atomic
def save_household(
    *,
    actor,
    source: str,
    commune: AdminUnit,
    values: dict[str, Any],
    members: Sequence[MemberInput],
    household: Household | None = None,
    expected_version: int | None = None,
    batch: str = "",
) -> Household:
    """Create a household with its members, or change one and its members.

    Raises ValidationError (keyed by field) for bad input, PermissionDenied for
    a commune outside the actor's area or a role that cannot write, and
    StaleEdit when `expected_version` is older than the stored household.
    """
    check_can_edit(actor, commune)
    cleaned = clean_household_values(values, commune)
    rows = [
        MemberInput(values=row.values if row.archive_reason else clean_member_values(row.values),
                    member=row.member, archive_reason=row.archive_reason)
        for row in members
    ]
    if household is not None:
        # Lock the row: two officers saving at once are serialised here, and the
        # second one then sees the version the first one wrote.
        household = Household.objects.select_for_update().get(pk=household.pk)
        check_not_archived(household)
        if household.commune_id != commune.pk:
            raise PermissionDenied(_("A household cannot be moved to another commune here."))
        if expected_version is not None and household.version != expected_version:
            raise StaleEdit(household)
        for row in rows:
            if row.member is not None and row.member.household_id != household.pk:
                raise PermissionDenied(_("A member of another household was submitted."))
    check_members(rows, household, actor)
    code = cleaned.get("code") or (household.code if household else next_household_code(commune))
    check_code_free(commune, code, household)
    cleaned["code"] = code

    pending = _Pending()
    actor_or_none = actor if getattr(actor, "pk", None) else None
    creating = household is None
    if creating:
        household = Household(commune=commune, created_by=actor_or_none, updated_by=actor_or_none,
                              head_name="", **cleaned)
        before = {}
    else:
        before = snapshot(household, HOUSEHOLD_FIELDS)
        for name, value in cleaned.items():
            setattr(household, name, value)
    try:
        with transaction.atomic():
            if creating:
                household.save()  # the members need its primary key
            _save_member_rows(household, rows, pending, actor_or_none)
            refresh_derived(household)
            changes = diff(before, snapshot(household, HOUSEHOLD_FIELDS))
            if creating:
                household.save()
                pending.changes.insert(0, Change(household, AuditEvent.Action.CREATE, changes=changes,
                                                 household_id=household.pk))
            elif changes or pending.changes:
                household.updated_by = actor_or_none
                household.version += 1
                household.save()
                if changes:
                    pending.changes.insert(0, Change(household, AuditEvent.Action.UPDATE, changes=changes,
                                                     household_id=household.pk))
    except IntegrityError as exc:
        # The constraints are checked above; this is the race where another save
        # took the code or the personal ID in between.
        raise ValidationError({"__all__": [_("Another user saved the same code or personal ID "
                                             "at the same moment; check and save again.")]}) from exc
    if pending.changes:
        record_many(pending.changes, actor=actor_or_none, source=source, batch=batch)
        queue_summary_refresh(commune.pk)
    return household


ARCHIVE_FIELDS = ["is_archived", "archived_reason", "archived_at", "archived_by", "updated_by", "version", "updated_at"]


def _mark_archived(household: Household, *, archived: bool, reason: str, actor, when) -> None:
    household.is_archived = archived
    household.archived_reason = reason if archived else ""
    household.archived_at = when if archived else None
    household.archived_by = actor if archived else None
    household.updated_by = actor
    household.version += 1


@transaction.atomic
def _set_archived(*, actor, household: Household, archived: bool, reason: str, source: str) -> Household:
    check_can_edit(actor, household.commune)
    reason = nfc(reason)
    if not reason:
        raise ValidationError({"reason": _("Give the reason for archiving.") if archived
                               else _("Give the reason for restoring.")})
    household = Household.objects.select_for_update().get(pk=household.pk)
    if household.is_archived == archived:
        raise ValidationError({"__all__": [_("This household is already archived.") if archived
                                           else _("This household is not archived.")]})
    _mark_archived(household, archived=archived, reason=reason, actor=actor, when=timezone.now())
    household.save(update_fields=ARCHIVE_FIELDS)
    action = AuditEvent.Action.ARCHIVE if archived else AuditEvent.Action.RESTORE
    record(Change(household, action, household_id=household.pk, reason=reason), actor=actor, source=source)
    queue_summary_refresh(household.commune_id)
    return household


def archive_household(*, actor, household: Household, reason: str, source: str) -> Household:
    """Take a household off the current lists; its record and history stay."""
    return _set_archived(actor=actor, household=household, archived=True, reason=reason, source=source)


def restore_household(*, actor, household: Household, reason: str, source: str) -> Household:
    return _set_archived(actor=actor, household=household, archived=False, reason=reason, source=source)


@transaction.atomic
def bulk_archive_households(*, actor, households, reason: str, source: str) -> int:
    """Archive many households in a few queries, with one audit event each."""
    reason = nfc(reason)
    if not reason:
        raise ValidationError({"reason": _("Give the reason for archiving.")})
    targets = list(
        Household.objects.for_user(actor).filter(pk__in=[h.pk for h in households], is_archived=False)
        .select_for_update().select_related("commune")
    )
    require(actor, Action.EDIT_HOUSEHOLDS)
    now = timezone.now()
    for household in targets:
        _mark_archived(household, archived=True, reason=reason, actor=actor, when=now)
        household.updated_at = now
    Household.objects.bulk_update(targets, ARCHIVE_FIELDS, batch_size=1000)
    record_many(
        (Change(h, AuditEvent.Action.ARCHIVE, household_id=h.pk, reason=reason) for h in targets),
        actor=actor, source=source,
    )
    for commune_id in {h.commune_id for h in targets}:
        queue_summary_refresh(commune_id)
    return len(targets)


@transaction.atomic
def update_household_fields(
    *, actor, household: Household, values: dict[str, Any], source: str,
    expected_version: int | None = None,
) -> Household:
    """Change the household's own fields only (the admin's main form)."""
    check_can_edit(actor, household.commune)
    locked = Household.objects.select_for_update().get(pk=household.pk)
    check_not_archived(locked)
    if expected_version is not None and locked.version != expected_version:
        raise StaleEdit(locked)
    merged = {name: getattr(locked, name) for name in HOUSEHOLD_EDITABLE}
    merged.update({k: v for k, v in values.items() if k in HOUSEHOLD_EDITABLE})
    cleaned = clean_household_values(merged, locked.commune)
    check_code_free(locked.commune, cleaned["code"], locked)
    before = snapshot(locked, HOUSEHOLD_FIELDS)
    for name, value in cleaned.items():
        setattr(locked, name, value)
    refresh_derived(locked)
    changes = diff(before, snapshot(locked, HOUSEHOLD_FIELDS))
    if changes:
        locked.updated_by = actor
        locked.version += 1
        locked.save()
        record(Change(locked, AuditEvent.Action.UPDATE, changes=changes, household_id=locked.pk),
               actor=actor, source=source)
        queue_summary_refresh(locked.commune_id)
    return locked


@transaction.atomic
def save_members(*, actor, household: Household, rows: Sequence[MemberInput], source: str) -> Household:
    """Add, change or archive members of one household (the admin's inline rows)."""
    check_can_edit(actor, household.commune)
    locked = Household.objects.select_for_update().get(pk=household.pk)
    check_not_archived(locked)
    submitted = {row.member.pk for row in rows if row.member is not None}
    untouched = [
        MemberInput(values={name: getattr(m, name) for name in MEMBER_FIELDS}, member=m)
        for m in locked.members.filter(is_archived=False).exclude(pk__in=submitted)
    ]
    cleaned = [
        MemberInput(values=row.values if row.archive_reason else clean_member_values(row.values),
                    member=row.member, archive_reason=row.archive_reason)
        for row in rows
    ]
    check_members([*cleaned, *untouched], locked, actor)
    pending = _Pending()
    _save_member_rows(locked, cleaned, pending, actor)
    before = snapshot(locked, HOUSEHOLD_FIELDS)
    refresh_derived(locked)
    changes = diff(before, snapshot(locked, HOUSEHOLD_FIELDS))
    if pending.changes or changes:
        locked.version += 1
        locked.updated_by = actor
        locked.save()
        if changes:
            pending.changes.insert(0, Change(locked, AuditEvent.Action.UPDATE, changes=changes,
                                             household_id=locked.pk))
        record_many(pending.changes, actor=actor, source=source)
        queue_summary_refresh(locked.commune_id)
    return locked
