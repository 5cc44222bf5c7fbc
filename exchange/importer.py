"""Importing households and members from exchange-format files.

Two steps, so that a person sees exactly what a file would do before anything
is written:

1. `plan_import()` reads every row, checks it against the format and against
   the database as the user may see it, and decides for each row: create,
   update, unchanged or rejected (with the column and the reason). It writes
   nothing.
2. `apply_plan()` writes the accepted changes in one transaction through the
   registry services, so every change is checked, normalised and audited like
   a change made in a form, and linked to the import batch.

By default a plan with any rejected row writes nothing; importing only the
valid rows is an explicit choice. Natural keys: (commune code, household code)
for households; for members, the household plus the personal ID, or else the
name and year of birth.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from types import SimpleNamespace
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.audit import Change, diff, record_many, snapshot
from core.models import AuditEvent
from core.scoping import communes_for
from core.text import fold, nfc
from geo.models import AdminUnit
from households import services
from households.models import Ethnicity, Household, Member, Village
from households.reference import match_ethnicity
from households.validators import is_masked_personal_id, mask_personal_id

from . import values as parse
from .columns import HOUSEHOLDS, MEMBERS, SHEETS, Sheet

Progress = Callable[[int, int], None]
# Updated rows whose changes a report lists (the counts are always exact).
LISTED_CHANGES = 5_000

# Text that Excel would run as a formula is written with a leading apostrophe
# by our exports; reading it back removes the apostrophe.
_ESCAPED_PREFIXES = ("'=", "'+", "'-", "'@", "'\t", "'\r")


@dataclass
class Issue:
    sheet: str
    row: int
    column: str
    value: str
    message: str


@dataclass
class MemberPlan:
    row: int
    values: dict[str, Any]
    member: Member | None = None
    action: str = "create"  # create | update | unchanged
    # An ID exported masked ("010•••••••45") to a user who may not see it whole.
    masked_id: str = ""
    # What an update changes: (column header, before, after) as the file spells them.
    changes: list[tuple[str, str, str]] = field(default_factory=list)


@dataclass
class HouseholdPlan:
    commune: AdminUnit
    code: str
    household: Household | None
    row: int | None = None  # its row on the households sheet, if any
    # The household fields that row states; a field it leaves out keeps its stored value.
    values: dict[str, Any] | None = None
    village_name: str = ""
    head_name: str = ""
    action: str = "unchanged"
    members: list[MemberPlan] = field(default_factory=list)
    rejected: bool = False
    changes: list[tuple[str, str, str]] = field(default_factory=list)


@dataclass
class Plan:
    households: dict[tuple[int, str], HouseholdPlan] = field(default_factory=dict)
    issues: list[Issue] = field(default_factory=list)
    rows: int = 0
    rejected_rows: set[tuple[str, int]] = field(default_factory=set)

    def counts(self) -> dict[str, int]:
        counts = {"created": 0, "updated": 0, "unchanged": 0, "rejected": len(self.rejected_rows)}
        for plan in self.households.values():
            if plan.rejected:
                continue
            if plan.row is not None:
                counts[_row_counter(plan.action)] += 1
            for member in plan.members:
                counts[_row_counter(member.action)] += 1
        return counts

    def changes(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Each updated row and the fields it changes, old → new, in sheet and row order."""
        found = []
        for hh_plan in self.households.values():
            if hh_plan.rejected:
                continue
            if hh_plan.row is not None and hh_plan.action == "update" and hh_plan.changes:
                found.append(_changed_row(HOUSEHOLDS, hh_plan.row, hh_plan.code, hh_plan.head_name,
                                          hh_plan.changes))
            for member in hh_plan.members:
                if member.action == "update" and member.changes:
                    found.append(_changed_row(MEMBERS, member.row, hh_plan.code, member.values.get("full_name", ""),
                                              member.changes))
        found.sort(key=lambda item: (item["sheet"] != HOUSEHOLDS.title, item["row"]))
        return found if limit is None else found[:limit]

    def reject(self, sheet: Sheet, row: int, column: str, value: Any, message: str) -> None:
        header = sheet.column(column).header if column else ""
        self.issues.append(Issue(sheet.title, row, header, _short(value), message))
        self.rejected_rows.add((sheet.title, row))


def _changed_row(sheet: Sheet, row: int, code: str, name: str, changes) -> dict[str, Any]:
    return {"sheet": sheet.title, "row": row, "code": code, "name": name,
            "changes": [list(change) for change in changes]}


def _row_counter(action: str) -> str:
    return {"create": "created", "update": "updated"}.get(action, "unchanged")


def _short(value: Any) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= 250 else text[:247] + "…"


def _text(value: Any) -> str:
    """A cell as text. The reader hands over NFC text already; numbers become digits."""
    if type(value) is not str:
        if value is None:
            return ""
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        value = nfc(str(value))
    if value[:1] == "'" and value.startswith(_ESCAPED_PREFIXES):
        return value[1:]
    return value


# Which column of the sheet a service's field error belongs to.
HOUSEHOLD_COLUMNS = {"code": "ma_ho", "village": "thon", "phone": "dien_thoai", "area": "khu_vuc",
                     "classification": "phan_loai", "classification_year": "nam_phan_loai"}
MEMBER_COLUMNS = {"full_name": "ho_ten", "sex": "gioi_tinh", "birth_date": "ngay_sinh", "birth_year": "ngay_sinh",
                  "personal_id": "so_dinh_danh", "ethnicity": "dan_toc", "relation": "quan_he"}

HOUSEHOLD_COMPARED = ("village", "area", "is_farm", "phone", "has_meritorious_member", "is_social_protection",
                      "classification", "classification_year")
MEMBER_COMPARED = ("full_name", "sex", "birth_date", "birth_year", "personal_id", "ethnicity", "relation",
                   "has_health_insurance")


class _Context:
    """What a plan needs from the database, fetched in a few queries.

    With `household_keys=None` only what the checks of single rows need is
    fetched (the user's communes and the ethnic groups): the large-file path
    checks rows one by one that way and leaves the rest to set-wise queries.
    """

    def __init__(self, user, commune_codes: set[str] | None, household_keys: set[tuple[str, str]] | None):
        self.user = user
        in_scope = communes_for(user).order_by("-edition")
        known = AdminUnit.objects.filter(level=AdminUnit.Level.COMMUNE)
        if commune_codes is not None:
            in_scope = in_scope.filter(code__in=commune_codes)
            known = known.filter(code__in=commune_codes)
        self.communes: dict[str, AdminUnit] = {}
        for commune in in_scope:
            # A code can stand in both editions of the map; a user whose area spans
            # both (a superuser) gets the newer one.
            self.communes.setdefault(commune.code, commune)
        self.known_codes = set(known.values_list("code", flat=True))
        self.households: dict[tuple[int, str], Household] = {}
        self.members: dict[int, list[Member]] = {}
        self.villages: dict[tuple[int, str], Village] = {}
        self.groups = list(Ethnicity.objects.all())
        self._ethnicity_cache: dict[str, Ethnicity | None] = {}
        self._ethnicity_spellings: dict[str, Ethnicity | None] = {}
        if household_keys is None:
            return
        wanted_codes = {code for _commune, code in household_keys}
        existing = (
            Household.objects.for_user(user)
            .filter(commune__in=list(self.communes.values()), code__in=wanted_codes)
            .select_related("village", "commune")
        )
        self.households = {(h.commune_id, h.code): h for h in existing}
        for member in (Member.objects.filter(household__in=list(self.households.values()), is_archived=False)
                       .select_related("ethnicity").order_by("pk")):
            self.members.setdefault(member.household_id, []).append(member)
        self.villages = {
            (v.commune_id, v.search_name): v
            for v in Village.objects.filter(commune__in=list(self.communes.values()))
        }

    def ethnicity(self, text: str) -> Ethnicity | None:
        # A list spells its groups a handful of ways: each spelling is folded and matched once.
        try:
            return self._ethnicity_spellings[text]
        except KeyError:
            pass
        key = fold(text)
        if key not in self._ethnicity_cache:
            self._ethnicity_cache[key] = match_ethnicity(text, self.groups)
        found = self._ethnicity_cache[key]
        if len(self._ethnicity_spellings) < 10_000:
            self._ethnicity_spellings[text] = found
        return found


@lru_cache(maxsize=4096)
def _cached_commune_code(raw: Any) -> str:
    return parse.parse_commune_code(raw)


def _commune_code(raw: Any) -> str:
    """Codes repeat on every row of a commune: parse each spelling once."""
    try:
        return _cached_commune_code(raw)
    except TypeError:  # an unhashable cell
        return parse.parse_commune_code(raw)


def _commune(plan: Plan, context: _Context, sheet: Sheet, row: int, raw: Any) -> AdminUnit | None:
    try:
        code = _commune_code(raw)
    except ValidationError as exc:
        plan.reject(sheet, row, "ma_xa", raw, " ".join(exc.messages))
        return None
    commune = context.communes.get(code)
    if commune is None:
        if code in context.known_codes:
            message = _("The commune %(code)s is outside your area; this row is not imported.") % {"code": code}
        else:
            message = _("There is no commune with code %(code)s.") % {"code": code}
        plan.reject(sheet, row, "ma_xa", raw, message)
    return commune


# Cells whose few spellings fill a whole file (sex, relation, yes/no, dates,
# years, choices): each spelling is parsed once, its value or its message kept.
_MEMO_PARSERS = frozenset({parse.parse_area, parse.parse_yes_no, parse.parse_classification, parse.parse_year,
                           parse.parse_sex, parse.parse_relation, parse.parse_date_or_year})
_MEMO_LIMIT = 100_000
_memo: dict[tuple, tuple[bool, Any]] = {}


_today: list[date] = []


def reset_memo() -> None:
    """Forget parsed spellings (messages are in the language of the request; dates depend on today)."""
    _memo.clear()
    _today.clear()


def _check_date() -> date:
    """Today's date, read once per check of a file (reading the clock costs more than a row's checks)."""
    if not _today:
        _today.append(timezone.localdate())
    return _today[0]


def _memo_parse(parser, raw: Any) -> tuple[bool, Any]:
    key = (parser, type(raw), raw)
    try:
        return _memo[key]
    except KeyError:
        pass
    except TypeError:  # an unhashable cell
        key = None
    try:
        found = (True, parser(raw))
    except ValidationError as exc:
        found = (False, " ".join(exc.messages))
    if key is not None:
        if len(_memo) >= _MEMO_LIMIT:
            _memo.clear()
        _memo[key] = found
    return found


def _cell(plan: Plan, sheet: Sheet, row: int, values: dict[str, Any], key: str, parser, *, required=False):
    """Parse one cell; on error record an issue and return the marker `_BAD`."""
    raw = values.get(key, "")
    if isinstance(raw, str):
        raw = _text(raw)
    if raw in ("", None):
        if required:
            plan.reject(sheet, row, key, "", _("“%(column)s” is required.") % {"column": sheet.column(key).header})
            return _BAD
        return None
    if parser in _MEMO_PARSERS:
        ok, found = _memo_parse(parser, raw)
        if ok:
            return found
        plan.reject(sheet, row, key, raw, found)
        return _BAD
    try:
        return parser(raw)
    except ValidationError as exc:
        plan.reject(sheet, row, key, raw, " ".join(exc.messages))
        return _BAD


_BAD = object()

# The spelling that clears a stored value in a clearable column (phone, personal
# ID): an empty cell changes nothing, so clearing needs a word of its own.
CLEAR = "-"
_CLEAR_SPELLINGS = frozenset({"-", "–", "—"})  # Word and Excel turn a typed "-" into a dash
# The yes/no columns of each sheet. An empty cell of one reads as "no" only where
# the sheet ticks that column with "x" (x for yes, empty for no); elsewhere it
# changes nothing.
YES_NO_COLUMNS = {"households": ("nong_nghiep", "nguoi_co_cong", "bao_tro_xa_hoi"), "members": ("bhyt",)}

# The longest text a column may hold: its model field's max_length.
HOUSEHOLD_LIMITS = {"ma_ho": ("Household", "code"), "thon": ("Village", "name"), "chu_ho": ("Household", "head_name"),
                    "dien_thoai": ("Household", "phone")}
MEMBER_LIMITS = {"ma_ho": ("Household", "code"), "ho_ten": ("Member", "full_name")}
_MODELS = {"Household": Household, "Village": Village, "Member": Member}


def is_clear(raw: Any) -> bool:
    return isinstance(raw, str) and _text(raw).strip() in _CLEAR_SPELLINGS


def is_tick(raw: Any) -> bool:
    return isinstance(raw, str) and raw.strip().lower() == "x"


def _yes_no(plan: Plan, sheet: Sheet, row: int, values: dict[str, Any], key: str, ticked: frozenset[str]):
    """A yes/no cell: None when it states nothing (no column, or an empty cell of a
    column not ticked with "x"), else True/False; `_BAD` once its problem is recorded."""
    if key not in values:
        return None
    raw = values[key]
    if isinstance(raw, str):
        raw = _text(raw).strip()
    if raw in ("", None):
        return False if key in ticked else None
    return _cell(plan, sheet, row, {key: raw}, key, parse.parse_yes_no)


def _clearable(plan: Plan, sheet: Sheet, row: int, values: dict[str, Any], key: str):
    """A clearable text cell: None when it states nothing (no column, an empty cell),
    "" for the clear spelling, else the text."""
    if key not in values:
        return None
    raw = values[key]
    if is_clear(raw):
        return ""
    return _cell(plan, sheet, row, values, key, _text)


def _max_length(model: str, name: str) -> int:
    return _MODELS[model]._meta.get_field(name).max_length


def _check_lengths(plan: Plan, sheet: Sheet, row: int, limits: dict[str, tuple[str, str]],
                   cells: dict[str, Any]) -> bool:
    """Every text cell against its model field's max_length; False once a problem is recorded."""
    fine = True
    for key, value in cells.items():
        if not isinstance(value, str) or key not in limits:
            continue
        limit = _max_length(*limits[key])
        if len(value) > limit:
            plan.reject(sheet, row, key, value, too_long_message(sheet.column(key).header, limit, len(value)))
            fine = False
    return fine


def too_long_message(column: str, limit: int, length: int) -> str:
    return _("“%(column)s” holds at most %(limit)d characters; this cell has %(length)d.") % {
        "column": column, "limit": limit, "length": length}


def classification_message(given: str, stored: str | None) -> str:
    """A file may not change a classification: only a commune decision (Mẫu 02) does.
    `given` and `stored` as the file spells them ("Hộ nghèo 2024")."""
    if stored is None:
        return _("A household's classification is set only by a commune decision (recognition decision, "
                 "Mẫu 02); a new household starts without one. Leave “Phân loại” empty or write “Không” "
                 "(the file says “%(given)s”).") % {"given": given}
    return _("A household's classification changes only through a commune decision (recognition decision, "
             "Mẫu 02); the register says “%(stored)s”, the file “%(given)s”. Leave “Phân loại” and “Năm "
             "phân loại” as in the register, or empty.") % {"stored": stored, "given": given}


def classification_text(classification: str | None, year: int | None) -> str:
    text = parse.format_classification(classification) if classification else ""
    return f"{text} {year}".strip() if year is not None else text


def check_household_row(plan: Plan, context: _Context, row,
                        ticked: frozenset[str] = frozenset()) -> tuple[AdminUnit, str, str, str, dict] | None:
    """The checks of one households row that need no other row: every cell, and
    the registry's rules for a household. Returns (commune, code, village name,
    head's name, values), or None once the problems are recorded in the plan.

    `values` holds only the fields the row states: a column the file does not
    have, or an empty cell, states nothing (an empty cell of a yes/no column in
    `ticked` states "no"; the clear spelling of the phone states ""). The
    classification and its year are there when given, to be compared with the
    register; an import never writes them."""
    sheet = HOUSEHOLDS
    v = row.values
    commune = _commune(plan, context, sheet, row.number, v.get("ma_xa", ""))
    code = _cell(plan, sheet, row.number, v, "ma_ho", _text, required=True)
    village = _cell(plan, sheet, row.number, v, "thon", _text, required=True)
    head = _cell(plan, sheet, row.number, v, "chu_ho", _text, required=True)
    area = _cell(plan, sheet, row.number, v, "khu_vuc", parse.parse_area)
    farm = _yes_no(plan, sheet, row.number, v, "nong_nghiep", ticked)
    phone = _clearable(plan, sheet, row.number, v, "dien_thoai")
    classification = _cell(plan, sheet, row.number, v, "phan_loai", parse.parse_classification)
    year = _cell(plan, sheet, row.number, v, "nam_phan_loai", parse.parse_year)
    merit = _yes_no(plan, sheet, row.number, v, "nguoi_co_cong", ticked)
    social = _yes_no(plan, sheet, row.number, v, "bao_tro_xa_hoi", ticked)
    parsed = (code, village, head, area, farm, phone, classification, year, merit, social)
    if commune is None or _BAD in parsed:
        return None
    if not _check_lengths(plan, sheet, row.number, HOUSEHOLD_LIMITS,
                          {"ma_ho": code, "thon": village, "chu_ho": head, "dien_thoai": phone}):
        return None
    try:
        services.clean_household_values({
            "village": SimpleNamespace(commune_id=commune.pk, name=village), "code": code, "phone": phone or "",
        }, commune)
    except ValidationError as exc:
        for name, messages in exc.message_dict.items():
            column = HOUSEHOLD_COLUMNS.get(name, "ma_ho")
            plan.reject(sheet, row.number, column, v.get(column, ""), " ".join(messages))
        return None
    values: dict[str, Any] = {"area": area or ""}
    for name, value in (("is_farm", farm), ("phone", phone), ("has_meritorious_member", merit),
                        ("is_social_protection", social), ("classification", classification),
                        ("classification_year", year)):
        if value is not None:
            values[name] = value
    return commune, code, village, head, values


def twice_on_sheet_message(code: str, first_row: int) -> str:
    return _("Household %(code)s appears twice on this sheet (first on row %(row)d).") % {
        "code": code, "row": first_row}


def classification_problem(classification: str | None, year: int | None, household: Household | None) -> str:
    """Why a row's classification may not stand ("" if it may): a file never changes
    a classification, which only a commune decision sets; the same value as the
    register, an empty cell or no column at all is fine."""
    none = Household.Classification.NONE
    if household is None:
        if classification in (None, none):
            return ""
        return classification_message(classification_text(classification, year), None)
    stored, stored_year = household.classification, household.classification_year
    if (classification is not None and classification != stored) or (
            year is not None and stored != none and year != stored_year):
        return classification_message(classification_text(classification or stored, year),
                                      classification_text(stored, stored_year if stored != none else None))
    return ""


def _household_rows(plan: Plan, context: _Context, rows: Iterable, ticked: frozenset[str] = frozenset()) -> None:
    sheet = HOUSEHOLDS
    for row in rows:
        plan.rows += 1
        checked = check_household_row(plan, context, row, ticked)
        if checked is None:
            continue
        commune, code, village, head, values = checked
        key = (commune.pk, code)
        existing_plan = plan.households.get(key)
        if existing_plan is not None and existing_plan.row is not None:
            plan.reject(sheet, row.number, "ma_ho", code, twice_on_sheet_message(code, existing_plan.row))
            continue
        household = context.households.get(key)
        classification, year = values.pop("classification", None), values.pop("classification_year", None)
        problem = classification_problem(classification, year, household)
        if problem:
            plan.reject(sheet, row.number, "phan_loai", row.values.get("phan_loai", ""), problem)
            continue
        if not values["area"]:
            del values["area"]  # the stored one stays; a new household takes its commune's
        hh_plan = existing_plan or HouseholdPlan(commune=commune, code=code, household=household)
        hh_plan.row, hh_plan.values, hh_plan.village_name, hh_plan.head_name = row.number, values, village, head
        plan.households[key] = hh_plan


def check_member_row(plan: Plan, context: _Context, row,
                     ticked: frozenset[str] = frozenset()) -> tuple[AdminUnit, str, dict, str] | None:
    """The checks of one members row that need no other row: every cell, the
    personal ID against sex and year of birth, and the registry's rules for a
    member. Returns (commune, household code, cleaned values, hidden ID as
    written or ""), or None once the problems are recorded in the plan.

    The personal ID and the insurance card are in the values only when the row
    states them (see `check_household_row`): no column or an empty cell keeps the
    stored ones; the clear spelling clears the ID."""
    sheet = MEMBERS
    v = row.values
    commune = _commune(plan, context, sheet, row.number, v.get("ma_xa", ""))
    code = _cell(plan, sheet, row.number, v, "ma_ho", _text, required=True)
    name = _cell(plan, sheet, row.number, v, "ho_ten", _text, required=True)
    sex = _cell(plan, sheet, row.number, v, "gioi_tinh", parse.parse_sex, required=True)
    born = _cell(plan, sheet, row.number, v, "ngay_sinh", parse.parse_date_or_year, required=True)
    relation = _cell(plan, sheet, row.number, v, "quan_he", parse.parse_relation, required=True)
    insured = _yes_no(plan, sheet, row.number, v, "bhyt", ticked)
    ethnicity_text = _cell(plan, sheet, row.number, v, "dan_toc", _text, required=True)
    ethnicity = None
    if ethnicity_text not in (None, _BAD):
        ethnicity = context.ethnicity(ethnicity_text)
        if ethnicity is None:
            plan.reject(sheet, row.number, "dan_toc", ethnicity_text,
                        _("“%(value)s” is not one of the 54 ethnic groups.") % {"value": ethnicity_text})
    raw_id = v.get("so_dinh_danh", "")
    personal_id: Any = ""
    id_stated = raw_id not in ("", None)
    masked_id = _text(raw_id) if is_masked_personal_id(str(raw_id or "")) else ""
    if masked_id or is_clear(raw_id):
        pass  # a hidden ID is matched against the stored member later, never stored as such
    elif id_stated and sex not in (None, _BAD) and born not in (None, _BAD):
        try:
            # Checked here against the row's sex and year of birth; the service takes it as checked.
            personal_id = parse.parse_personal_id(raw_id, sex=sex, birth_year=born[1])
        except ValidationError as exc:
            plan.reject(sheet, row.number, "so_dinh_danh", raw_id, " ".join(exc.messages))
            personal_id = None
    if commune is None or ethnicity is None or personal_id is None or _BAD in (
            code, name, sex, born, relation, insured):
        return None
    if not _check_lengths(plan, sheet, row.number, MEMBER_LIMITS, {"ma_ho": code, "ho_ten": name}):
        return None
    birth_date, birth_year = born
    values = {
        "full_name": name, "sex": sex, "birth_date": birth_date, "birth_year": birth_year,
        "personal_id": personal_id, "ethnicity": ethnicity, "relation": relation,
    }
    if insured is not None:
        values["has_health_insurance"] = insured
    try:
        values = services.clean_member_values(values, today=_check_date())
    except ValidationError as exc:
        for field_name, messages in exc.message_dict.items():
            column = MEMBER_COLUMNS.get(field_name, "ho_ten")
            plan.reject(sheet, row.number, column, v.get(column, ""), " ".join(messages))
        return None
    if not id_stated:
        # No ID column, or an empty cell: the stored ID stays.
        del values["personal_id"], values["personal_id_is_legacy"]
    return commune, code, values, masked_id


def no_household_message(code: str, commune_code: str) -> str:
    return _("Household %(code)s of commune %(commune)s is neither in the register nor on the "
             "“Hộ gia đình” sheet.") % {"code": code, "commune": commune_code}


def id_taken_message(pid: str, code: str, commune_code: str, in_area: bool) -> str:
    """The household is named only when it is in the importing user's area (see the service)."""
    return services.personal_id_taken_message(pid, code=code, commune_code=commune_code, in_area=in_area)


def hidden_id_message() -> str:
    return _("This personal ID is hidden (•). Enter it whole, or keep the hidden form of the ID already in "
             "the register.")


def _member_rows(plan: Plan, context: _Context, rows: Iterable, ticked: frozenset[str] = frozenset()) -> None:
    sheet = MEMBERS
    for row in rows:
        plan.rows += 1
        checked = check_member_row(plan, context, row, ticked)
        if checked is None:
            continue
        commune, code, values, masked_id = checked
        key = (commune.pk, code)
        hh_plan = plan.households.get(key)
        if hh_plan is None:
            household = context.households.get(key)
            if household is None:
                plan.reject(sheet, row.number, "ma_ho", code, no_household_message(code, commune.code))
                continue
            hh_plan = plan.households[key] = HouseholdPlan(commune=commune, code=code, household=household)
        hh_plan.members.append(MemberPlan(row=row.number, values=values, masked_id=masked_id))


def _match_members(plan: Plan, context: _Context) -> None:
    """Pair member rows with stored members, decide each row's action, and check
    each household as it would be after the import: exactly one head, no ID twice."""
    ids = {m.values["personal_id"] for hh in plan.households.values() for m in hh.members
           if m.values.get("personal_id")}
    owners = {
        pid: (household_id, code, commune_id, commune_code)
        for pid, household_id, code, commune_id, commune_code
        in Member.objects.filter(is_archived=False, personal_id__in=ids)
        .values_list("personal_id", "household_id", "household__code", "household__commune_id",
                     "household__commune__code")
    } if ids else {}
    in_area = set(communes_for(context.user).filter(pk__in={o[2] for o in owners.values()})
                  .values_list("pk", flat=True)) if owners else set()
    for hh_plan in plan.households.values():
        own_pk = hh_plan.household.pk if hh_plan.household else None
        kept = []
        for member_plan in hh_plan.members:
            pid = member_plan.values.get("personal_id")
            if pid and pid in owners and owners[pid][0] != own_pk:
                _own, code, commune_id, commune_code = owners[pid]
                plan.reject(MEMBERS, member_plan.row, "so_dinh_danh", pid,
                            id_taken_message(pid, code, commune_code, commune_id in in_area))
                continue
            kept.append(member_plan)
        hh_plan.members = kept
    for hh_plan in plan.households.values():
        stored = context.members.get(hh_plan.household.pk, []) if hh_plan.household else []
        by_id = {m.personal_id: m for m in stored if m.personal_id}
        by_name = {(m.search_name, m.birth_year): m for m in stored}
        claimed: dict[int, int] = {}
        for member_plan in hh_plan.members:
            values = member_plan.values
            member = by_id.get(values["personal_id"]) if values.get("personal_id") else None
            member = member or by_name.get((fold(values["full_name"]), values["birth_year"]))
            if member_plan.masked_id:
                if member is None or mask_personal_id(member.personal_id) != member_plan.masked_id:
                    plan.reject(MEMBERS, member_plan.row, "so_dinh_danh", member_plan.masked_id,
                                hidden_id_message())
                    member_plan.action = "duplicate"
                    continue
                values["personal_id"] = member.personal_id
                values["personal_id_is_legacy"] = member.personal_id_is_legacy
            if member is not None:
                if member.pk in claimed:
                    plan.reject(MEMBERS, member_plan.row, "ho_ten", values["full_name"],
                                _("This person is already on row %(row)d.") % {"row": claimed[member.pk]})
                    member_plan.action = "duplicate"
                    continue
                claimed[member.pk] = member_plan.row
                member_plan.member = member
                before = snapshot(member, MEMBER_COMPARED)
                after = {**before, **{k: _comparable(v) for k, v in values.items() if k in MEMBER_COMPARED}}
                member_plan.action = "unchanged" if before == after else "update"
                if before != after:
                    member_plan.changes = _shown_changes(MEMBERS, before, after, context.user)
        hh_plan.members = [m for m in hh_plan.members if m.action != "duplicate"]
        _check_household(plan, hh_plan, stored, claimed)


# The column of each compared field, and how the file spells its values.
_SHOWN = {
    "village": ("thon", str), "area": ("khu_vuc", parse.format_area), "is_farm": ("nong_nghiep", parse.format_yes_no),
    "phone": ("dien_thoai", str), "has_meritorious_member": ("nguoi_co_cong", parse.format_yes_no),
    "is_social_protection": ("bao_tro_xa_hoi", parse.format_yes_no), "full_name": ("ho_ten", str),
    "sex": ("gioi_tinh", parse.format_sex), "personal_id": ("so_dinh_danh", str), "ethnicity": ("dan_toc", str),
    "relation": ("quan_he", parse.format_relation), "has_health_insurance": ("bhyt", parse.format_yes_no),
}


def _shown_changes(sheet: Sheet, before: dict[str, Any], after: dict[str, Any], user) -> list[tuple[str, str, str]]:
    """The fields an update changes, (column header, before, after), spelled as in the file;
    personal IDs masked for the users who see them masked on the pages."""
    changes = []
    whole_ids = getattr(user, "sees_full_personal_ids", False)
    for name in (*HOUSEHOLD_COMPARED, *MEMBER_COMPARED):
        if name in ("birth_year", "classification", "classification_year") or name not in before:
            continue
        if name == "birth_date":
            old = parse.format_date(_as_date(before["birth_date"]), before["birth_year"])
            new = parse.format_date(_as_date(after["birth_date"]), after["birth_year"])
            if old != new:
                changes.append((sheet.column("ngay_sinh").header, old, new))
            continue
        if before[name] == after[name]:
            continue
        key, spell = _SHOWN[name]
        old, new = ("" if value is None else spell(value) for value in (before[name], after[name]))
        if name == "personal_id" and not whole_ids:
            old, new = mask_personal_id(old), mask_personal_id(new)
        changes.append((sheet.column(key).header, old, new))
    return changes


def _as_date(value: Any) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) and value else value or None


def _comparable(value: Any) -> Any:
    if isinstance(value, Ethnicity):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def household_problem(code: str, *, is_new: bool, members: int, heads: int, sheet_head: str, member_head: str,
                      id_twice: bool) -> str:
    """What is wrong with a household as it would be after the import ("" if nothing):
    a new one without members, other than exactly one head, a head named otherwise
    on the households sheet, a personal ID given twice."""
    if is_new and not members:
        return _("Household %(code)s is new but has no members on the “Thành viên” sheet.") % {"code": code}
    if heads != 1:
        return _("Household %(code)s would have %(count)d heads; it needs exactly one.") % {
            "code": code, "count": heads}
    if sheet_head and fold(sheet_head) != fold(member_head):
        return _("The head of household %(code)s is “%(sheet_name)s” on the “Hộ gia đình” sheet but "
                 "“%(member_name)s” among its members.") % {
            "code": code, "sheet_name": sheet_head, "member_name": member_head}
    if id_twice:
        return _("A personal ID is given twice in household %(code)s.") % {"code": code}
    return ""


def _check_household(plan: Plan, hh_plan: HouseholdPlan, stored: list[Member], claimed: dict[int, int]) -> None:
    final_heads = [m.values["full_name"] for m in hh_plan.members if m.values["relation"] == Member.Relation.HEAD]
    final_heads += [m.full_name for m in stored if m.pk not in claimed and m.relation == Member.Relation.HEAD]
    member_rows = [m.row for m in hh_plan.members]
    ids = [m.values["personal_id"] for m in hh_plan.members if m.values.get("personal_id")]
    problem = household_problem(
        hh_plan.code, is_new=hh_plan.household is None, members=len(hh_plan.members), heads=len(final_heads),
        sheet_head=hh_plan.head_name, member_head=final_heads[0] if final_heads else "",
        id_twice=len(ids) != len(set(ids)),
    )
    if not problem:
        return
    hh_plan.rejected = True
    if hh_plan.row is not None:
        plan.reject(HOUSEHOLDS, hh_plan.row, "ma_ho", hh_plan.code, problem)
    for row in member_rows:
        plan.reject(MEMBERS, row, "ma_ho", hh_plan.code, problem)


def _household_action(plan: Plan, context: _Context) -> None:
    for hh_plan in plan.households.values():
        if hh_plan.rejected or hh_plan.values is None:
            continue
        household = hh_plan.household
        if household is None:
            hh_plan.action = "create"
            continue
        village = context.villages.get((household.commune_id, fold(hh_plan.village_name)))
        before = snapshot(household, HOUSEHOLD_COMPARED)
        after = {**before, **{k: v for k, v in hh_plan.values.items() if k in HOUSEHOLD_COMPARED}}
        after["village"] = village.name if village else hh_plan.village_name
        hh_plan.action = "unchanged" if before == after else "update"
        if before != after:
            hh_plan.changes = _shown_changes(HOUSEHOLDS, before, after, context.user)


def plan_import(tables: Iterable, user, *, progress: Progress | None = None) -> Plan:
    """Check every row of the tables read from a file; write nothing."""
    reset_memo()
    tables = [t for t in tables if t.kind in ("households", "members")]
    refused = [t for t in tables if getattr(t, "missing_required", None)]
    tables = [t for t in tables if t not in refused]
    household_tables = [t for t in tables if t.kind == "households"]
    member_tables = [t for t in tables if t.kind == "members"]
    # Rows are read twice: once for the keys (to fetch the database state in a
    # few queries), once to check them.
    commune_codes: set[str] = set()
    keys: set[tuple[str, str]] = set()
    ticked: dict[int, set[str]] = {}
    for table in tables:
        yes_no = [key for key in YES_NO_COLUMNS[table.kind] if key in getattr(table, "columns", ())]
        ticks = ticked[id(table)] = set()
        for row in table.rows():
            for key in yes_no:
                if is_tick(row.values.get(key)):
                    ticks.add(key)
            try:
                commune_code = _commune_code(row.values.get("ma_xa", ""))
            except ValidationError:
                continue
            commune_codes.add(commune_code)
            keys.add((commune_code, _text(row.values.get("ma_ho", ""))))
    context = _Context(user, commune_codes, keys)
    plan = Plan()
    for table in refused:
        # A sheet without a required column cannot be read row by row; say so once.
        spec = SHEETS[table.kind]
        missing = ", ".join(spec.column(key).header for key in table.missing_required)
        plan.issues.append(Issue(table.name, table.header_row, "", "", _(
            "The sheet lacks required columns: %(columns)s. None of its rows is imported.") % {"columns": missing}))
        plan.rejected_rows.add((table.name, table.header_row))
    for table in household_tables:
        _household_rows(plan, context, table.rows(), frozenset(ticked[id(table)]))
    if progress:
        progress(plan.rows, plan.rows)
    for table in member_tables:
        _member_rows(plan, context, table.rows(), frozenset(ticked[id(table)]))
    _match_members(plan, context)
    _household_action(plan, context)
    if progress:
        progress(plan.rows, plan.rows)
    return plan


def _work(plan: Plan) -> list[HouseholdPlan]:
    return [
        hh for hh in plan.households.values()
        if not hh.rejected and (hh.action != "unchanged" or any(m.action != "unchanged" for m in hh.members))
    ]


def _villages(todo: list[HouseholdPlan]) -> dict[tuple[int, str], Village]:
    """Every village the file names, created in one statement where new."""
    communes = {hh.commune.pk for hh in todo}
    known = {(v.commune_id, v.search_name): v for v in Village.objects.filter(commune_id__in=communes)}
    wanted = {(hh.commune.pk, fold(hh.village_name)): hh.village_name for hh in todo if hh.values is not None}
    new = [Village(commune_id=c, name=nfc(name), search_name=key)
           for (c, key), name in wanted.items() if (c, key) not in known]
    if new:
        Village.objects.bulk_create(new)
        known = {(v.commune_id, v.search_name): v for v in Village.objects.filter(commune_id__in=communes)}
    return known


@transaction.atomic
def apply_plan(plan: Plan, user, *, batch: str, progress: Progress | None = None) -> dict[str, int]:
    """Write what the plan accepted, in one transaction and a few set-wise statements.

    Every value was checked by the registry services' own rules while planning;
    here rows are written in bulk (the number of queries does not grow with the
    number of rows on PostgreSQL), the columns kept from members are derived by
    the same function the services use, and every created or changed record gets
    its audit event, linked to the batch.
    """
    todo = _work(plan)
    if not todo:
        return plan.counts()
    for commune in {hh.commune for hh in todo}:
        services.check_can_edit(user, commune, importing=True)
    now = timezone.now()
    villages = _villages(todo)
    existing_ids = [hh.household.pk for hh in todo if hh.household is not None]
    # Lock the households being changed: a form save in between waits, then finds a newer version.
    locked = {h.pk: h for h in Household.objects.select_for_update().filter(pk__in=existing_ids)
              .select_related("village")}
    stored: dict[int, list[Member]] = {}
    for member in Member.objects.filter(household_id__in=existing_ids, is_archived=False).select_related("ethnicity"):
        stored.setdefault(member.household_id, []).append(member)

    new_households, changed_households = [], []
    new_members: list[tuple[Household, Member]] = []
    changed_members: list[tuple[Member, dict]] = []
    created_households: list[Household] = []
    household_changes: list[tuple[Household, dict]] = []
    for hh_plan in todo:
        is_new = hh_plan.household is None
        household = Household(commune=hh_plan.commune, code=hh_plan.code, created_by=user, head_name="",
                              version=1) if is_new else locked[hh_plan.household.pk]
        before = {} if is_new else snapshot(household, services.HOUSEHOLD_FIELDS)
        if hh_plan.values is not None:
            household.village = villages[(hh_plan.commune.pk, fold(hh_plan.village_name))]
            for name, value in hh_plan.values.items():
                setattr(household, name, value)
            if not household.area:
                household.area = Household.Area.URBAN if hh_plan.commune.is_urban else Household.Area.RURAL
        mentioned = {m.member.pk for m in hh_plan.members if m.member is not None}
        final = [m for m in stored.get(household.pk, []) if m.pk not in mentioned] if not is_new else []
        added = []
        members_changed = False
        for member_plan in hh_plan.members:
            values = {k: v for k, v in member_plan.values.items()
                      if k in (*services.MEMBER_FIELDS, "personal_id_is_legacy")}
            if member_plan.member is None:
                member = Member(search_name=fold(values["full_name"]), **values)
                added.append(member)
            else:
                member = member_plan.member
                member_before = snapshot(member, services.MEMBER_FIELDS)
                for name, value in values.items():
                    setattr(member, name, value)
                member.search_name = fold(member.full_name)
                member.updated_at = now
                member_changes = diff(member_before, snapshot(member, services.MEMBER_FIELDS))
                if member_changes:
                    changed_members.append((member, member_changes))
                    members_changed = True
            final.append(member)
        for name, value in services.derived_values(household, final).items():
            setattr(household, name, value)
        household.updated_by = user
        household.updated_at = now
        if is_new:
            new_households.append(household)
            created_households.append(household)
        else:
            changes = diff(before, snapshot(household, services.HOUSEHOLD_FIELDS))
            if changes or added or members_changed:
                household.version += 1
                changed_households.append(household)
            if changes:
                household_changes.append((household, changes))
        new_members.extend((household, member) for member in added)

    Household.objects.bulk_create(new_households)
    Household.objects.bulk_update(
        changed_households,
        [*services.HOUSEHOLD_EDITABLE, "head_name", "member_count", "is_ethnic_minority", "search_text",
         "updated_by", "updated_at", "version"],
    )
    for household, member in new_members:
        member.household = household
    Member.objects.bulk_create([member for _household, member in new_members])
    Member.objects.bulk_update(
        [member for member, _changes in changed_members],
        [*services.MEMBER_FIELDS, "personal_id_is_legacy", "search_name", "updated_at"],
    )
    if progress:
        progress(plan.rows, plan.rows)

    events = []
    for household in created_households:
        events.append(Change(household, AuditEvent.Action.CREATE, household_id=household.pk,
                             changes=diff({}, snapshot(household, services.HOUSEHOLD_FIELDS))))
    events += [Change(h, AuditEvent.Action.UPDATE, changes=c, household_id=h.pk) for h, c in household_changes]
    events += [Change(m, AuditEvent.Action.CREATE, household_id=h.pk,
                      changes=diff({}, snapshot(m, services.MEMBER_FIELDS))) for h, m in new_members]
    events += [Change(m, AuditEvent.Action.UPDATE, changes=c, household_id=m.household_id)
               for m, c in changed_members]
    record_many(events, actor=user, source=AuditEvent.Source.IMPORT, batch=batch)
    for commune_id in {hh.commune.pk for hh in todo}:
        services.queue_summary_refresh(commune_id)
    return plan.counts()
