"""Loading the administrative map into `AdminUnit`.

The map is shipped as committed CSV files (geo/data/admin_units_<edition>.csv,
see geo/data/README.md) so that loading needs no network and no third-party
package, and every deployment gets exactly the same codes.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from django.db import transaction
from django.utils.translation import gettext as _

from .models import AdminUnit, CommuneSuccessor

DATA_DIR = Path(__file__).resolve().parent / "data"

HEADER = ["level", "code", "name", "kind", "is_urban", "parent_code"]

PROVINCE = AdminUnit.Level.PROVINCE.value
DISTRICT = AdminUnit.Level.DISTRICT.value
COMMUNE = AdminUnit.Level.COMMUNE.value

# Top-down, so that every parent is saved (and has a primary key) before its children.
LEVEL_ORDER = [PROVINCE, DISTRICT, COMMUNE]

# Official codes are fixed-width strings; a code of the wrong width means the
# file was edited by hand or lost its leading zeros (e.g. opened in a spreadsheet).
CODE_WIDTH = {PROVINCE: 2, DISTRICT: 3, COMMUNE: 5}

# Which level a unit's parent is at, per edition. The 2025 map has no districts:
# communes hang directly under the province.
PARENT_LEVEL: dict[int, dict[str, str | None]] = {
    AdminUnit.Edition.E2021.value: {PROVINCE: None, DISTRICT: PROVINCE, COMMUNE: DISTRICT},
    AdminUnit.Edition.E2025.value: {PROVINCE: None, COMMUNE: PROVINCE},
}

Counts = dict[str, dict[str, int]]


class AdminUnitDataError(Exception):
    """The requested edition cannot be loaded (unknown edition, missing or bad file)."""


@dataclass(frozen=True)
class UnitRow:
    level: str
    code: str
    name: str
    kind: str
    is_urban: bool
    parent_code: str


def data_file(edition: int, data_dir: Path | None = None) -> Path:
    return (data_dir or DATA_DIR) / f"admin_units_{edition}.csv"


def read_rows(edition: int, data_dir: Path | None = None) -> list[UnitRow]:
    """Read and validate one edition's file; raise AdminUnitDataError on any problem.

    Everything is checked before the database is touched, so a bad file never
    leaves a half-loaded map behind.
    """
    if edition not in PARENT_LEVEL:
        raise AdminUnitDataError(
            _("Unknown edition %(edition)s; the known editions are %(known)s.")
            % {"edition": edition, "known": ", ".join(str(e) for e in PARENT_LEVEL)}
        )
    path = data_file(edition, data_dir)
    if not path.is_file():
        raise AdminUnitDataError(
            _("The data file for edition %(edition)s is missing: %(path)s") % {"edition": edition, "path": path}
        )

    levels = PARENT_LEVEL[edition]
    rows: list[UnitRow] = []
    seen: dict[str, set[str]] = {level: set() for level in levels}
    # utf-8-sig: tolerate a byte-order mark if someone re-saves the file in an editor.
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames != HEADER:
            raise AdminUnitDataError(
                _("%(file)s: the header must be %(expected)s, not %(found)s.")
                % {"file": path.name, "expected": ",".join(HEADER), "found": ",".join(reader.fieldnames or [])}
            )
        for line, raw in enumerate(reader, start=2):
            row = _parse_row(raw, path.name, line, levels, seen)
            seen[row.level].add(row.code)
            rows.append(row)
    return rows


def _parse_row(
    raw: dict[str, str], file: str, line: int, levels: dict[str, str | None], seen: dict[str, set[str]]
) -> UnitRow:
    def fail(problem: str) -> AdminUnitDataError:
        return AdminUnitDataError(
            _("%(file)s, line %(line)s: %(problem)s") % {"file": file, "line": line, "problem": problem}
        )

    level, code = raw["level"], raw["code"]
    if level not in levels:
        raise fail(_("level “%(level)s” does not exist in this edition.") % {"level": level})
    if not (code.isascii() and code.isdigit() and len(code) == CODE_WIDTH[level]):
        raise fail(_("code “%(code)s” is not a %(width)s-digit code.") % {"code": code, "width": CODE_WIDTH[level]})
    if code in seen[level]:
        raise fail(_("%(level)s code %(code)s appears twice.") % {"level": AdminUnit.Level(level).label, "code": code})
    if not raw["name"]:
        raise fail(_("the name is empty."))
    if raw["is_urban"] not in ("true", "false"):
        raise fail(_("is_urban must be true or false."))
    parent_level = levels[level]
    parent_code = raw["parent_code"]
    if parent_level is None and parent_code:
        raise fail(_("a province has no parent."))
    # The file is sorted top-down, so the parent must already have been read.
    if parent_level is not None and parent_code not in seen[parent_level]:
        raise fail(
            _("parent %(level)s “%(code)s” is not listed before this row.")
            % {"level": AdminUnit.Level(parent_level).label, "code": parent_code}
        )
    return UnitRow(
        level=level,
        code=code,
        name=raw["name"],
        kind=raw["kind"],
        is_urban=raw["is_urban"] == "true",
        parent_code=parent_code,
    )


def load_admin_units(edition: int, *, data_dir: Path | None = None) -> Counts:
    """Upsert one edition's units from its CSV file, keyed by (edition, level, code).

    Returns {level: {"created": n, "updated": n, "unchanged": n, "not_in_file": n}}
    for every level of the edition. Units in the database but not in the file are
    counted, never deleted: households and reviews point at them (PROTECT), and a
    unit dropping out of the file is a data question for a person, not the loader.

    All in one transaction, with one SELECT and then bulk INSERTs/UPDATEs per
    level: a re-run with nothing to do is a single query; a first load of the 2021
    edition is 17 queries on PostgreSQL (batches of 1,000 rows, well under its
    65,535-parameter limit) and about 90 on SQLite, where Django caps each
    statement at 999 parameters. Either way, about a second.
    """
    rows = read_rows(edition, data_dir)
    levels = [level for level in LEVEL_ORDER if level in PARENT_LEVEL[edition]]

    # No row locks: two loaders racing to insert the same unit hit the
    # (edition, level, code) unique constraint, and the loser rolls back whole.
    with transaction.atomic():
        existing: dict[tuple[str, str], AdminUnit] = {
            (unit.level, unit.code): unit for unit in AdminUnit.objects.filter(edition=edition)
        }
        # (level, code) -> (pk, province pk), filled top-down as levels are saved.
        saved: dict[tuple[str, str], tuple[int, int]] = {}
        counts: Counts = {}

        for level in levels:
            level_rows = [r for r in rows if r.level == level]
            in_file = {r.code for r in level_rows}
            not_in_file = sum(1 for (lvl, code) in existing if lvl == level and code not in in_file)
            counts[level] = _load_level(edition, level, level_rows, existing, saved)
            counts[level]["not_in_file"] = not_in_file
    return counts


def _load_level(
    edition: int,
    level: str,
    rows: list[UnitRow],
    existing: dict[tuple[str, str], AdminUnit],
    saved: dict[tuple[str, str], tuple[int, int]],
) -> dict[str, int]:
    parent_level = PARENT_LEVEL[edition][level]
    to_create: list[AdminUnit] = []
    # Grouped by which fields changed: Django's bulk_update builds a CASE
    # expression per field per row in Python (about 1 ms each), so sending only
    # the changed fields keeps a typical refresh (a few renames) near-instant.
    to_update: dict[tuple[str, ...], list[AdminUnit]] = defaultdict(list)
    unchanged = 0

    for row in rows:
        if parent_level is None:
            parent_id = None
            # A province is its own province; for a new one we only know the pk
            # after the insert, so it is filled in below.
            province_id = existing[(level, row.code)].pk if (level, row.code) in existing else None
        else:
            parent_id, province_id = saved[(parent_level, row.parent_code)]
        wanted = {
            "name": row.name,
            "kind": row.kind,
            "is_urban": row.is_urban,
            "parent_id": parent_id,
            "province_id": province_id,
        }
        unit = existing.get((level, row.code))
        if unit is None:
            to_create.append(AdminUnit(edition=edition, level=level, code=row.code, **wanted))
        else:
            changed = tuple(field for field, value in wanted.items() if getattr(unit, field) != value)
            if changed:
                for field in changed:
                    setattr(unit, field, wanted[field])
                to_update[changed].append(unit)
            else:
                unchanged += 1

    if to_create:
        AdminUnit.objects.bulk_create(to_create, batch_size=1000)
        if any(unit.pk is None for unit in to_create):
            # Backends that cannot return ids from a bulk insert: fetch them.
            pks = dict(AdminUnit.objects.filter(edition=edition, level=level).values_list("code", "pk"))
            for unit in to_create:
                unit.pk = pks[unit.code]
        if parent_level is None:
            for unit in to_create:
                unit.province_id = unit.pk
            AdminUnit.objects.bulk_update(to_create, ["province_id"], batch_size=1000)
    for fields, units in to_update.items():
        AdminUnit.objects.bulk_update(units, fields, batch_size=1000)

    for unit in to_create:
        existing[(level, unit.code)] = unit
    for row in rows:
        unit = existing[(level, row.code)]
        saved[(level, row.code)] = (unit.pk, unit.province_id)

    updated = sum(len(units) for units in to_update.values())
    return {"created": len(to_create), "updated": updated, "unchanged": unchanged}


# --- successors: which 2025 commune(s) a 2021 commune became --------------------

SUCCESSOR_FILE = "commune_successors.csv"
SUCCESSOR_HEADER = ["old_code", "new_code", "is_default"]


def successors_file(data_dir: Path | None = None) -> Path:
    return (data_dir or DATA_DIR) / SUCCESSOR_FILE


def both_editions_loaded() -> bool:
    loaded = set(AdminUnit.objects.filter(level=COMMUNE).values_list("edition", flat=True).distinct())
    return loaded >= set(PARENT_LEVEL)


def read_successor_rows(data_dir: Path | None = None) -> list[tuple[str, str, bool]]:
    """(old code, new code, is default) per line, checked: codes well formed, no pair twice,
    exactly one default per old commune. Raises AdminUnitDataError before anything is written."""
    path = successors_file(data_dir)
    if not path.is_file():
        raise AdminUnitDataError(_("The commune successors file is missing: %(path)s") % {"path": path})
    rows: list[tuple[str, str, bool]] = []
    seen: set[tuple[str, str]] = set()
    defaults: dict[str, int] = defaultdict(int)
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames != SUCCESSOR_HEADER:
            raise AdminUnitDataError(
                _("%(file)s: the header must be %(expected)s, not %(found)s.")
                % {"file": path.name, "expected": ",".join(SUCCESSOR_HEADER),
                   "found": ",".join(reader.fieldnames or [])}
            )
        for line, raw in enumerate(reader, start=2):
            def fail(problem: str, line: int = line) -> AdminUnitDataError:
                return AdminUnitDataError(
                    _("%(file)s, line %(line)s: %(problem)s") % {"file": path.name, "line": line, "problem": problem}
                )

            old, new, flag = raw["old_code"], raw["new_code"], raw["is_default"]
            for code in (old, new):
                if not (code and code.isascii() and code.isdigit() and len(code) == CODE_WIDTH[COMMUNE]):
                    raise fail(_("code “%(code)s” is not a %(width)s-digit code.")
                               % {"code": code, "width": CODE_WIDTH[COMMUNE]})
            if flag not in ("true", "false"):
                raise fail(_("is_default must be true or false."))
            if (old, new) in seen:
                raise fail(_("the pair %(old)s → %(new)s appears twice.") % {"old": old, "new": new})
            seen.add((old, new))
            defaults[old] += flag == "true"
            rows.append((old, new, flag == "true"))
    wrong = sorted(old for old, n in defaults.items() if n != 1)
    if wrong:
        raise AdminUnitDataError(
            _("%(file)s: commune %(code)s must have exactly one default successor.")
            % {"file": path.name, "code": wrong[0]}
        )
    return rows


def load_commune_successors(*, data_dir: Path | None = None) -> dict[str, int]:
    """Upsert the 2021 -> 2025 commune links from geo/data/commune_successors.csv.

    Needs both editions loaded (the links point at their units). Returns
    {"created", "updated", "unchanged", "not_in_file", "communes"}: "communes" is
    the number of 2021 communes with a successor. Links in the database but not in
    the file are counted and left alone, like units.
    """
    rows = read_successor_rows(data_dir)
    old_pks = dict(
        AdminUnit.objects.filter(edition=AdminUnit.Edition.E2021, level=COMMUNE).values_list("code", "pk")
    )
    new_pks = dict(
        AdminUnit.objects.filter(edition=AdminUnit.Edition.E2025, level=COMMUNE).values_list("code", "pk")
    )
    for old, new, _default in rows:
        for code, pks, edition in ((old, old_pks, 2021), (new, new_pks, 2025)):
            if code not in pks:
                raise AdminUnitDataError(
                    _("%(file)s: commune %(code)s is not in the %(edition)s edition.")
                    % {"file": SUCCESSOR_FILE, "code": code, "edition": edition}
                )

    with transaction.atomic():
        existing = {(link.old_id, link.new_id): link for link in CommuneSuccessor.objects.all()}
        wanted = {(old_pks[old], new_pks[new]): default for old, new, default in rows}
        to_create = [
            CommuneSuccessor(old_id=old, new_id=new, is_default=default)
            for (old, new), default in wanted.items() if (old, new) not in existing
        ]
        changed = [link for key, link in existing.items() if key in wanted and link.is_default != wanted[key]]
        # Clear the old defaults before setting the new ones: at no moment may a
        # commune have two (the communesuccessor_one_default constraint).
        for value in (False, True):
            batch = [link for link in changed if wanted[(link.old_id, link.new_id)] is value]
            for link in batch:
                link.is_default = value
            CommuneSuccessor.objects.bulk_update(batch, ["is_default"], batch_size=1000)
        CommuneSuccessor.objects.bulk_create(to_create, batch_size=1000)
    return {
        "created": len(to_create),
        "updated": len(changed),
        "unchanged": sum(1 for key in wanted if key in existing) - len(changed),
        "not_in_file": sum(1 for key in existing if key not in wanted),
        "communes": len({old for old, _new, _default in rows}),
    }


def successors_of(commune: AdminUnit) -> list[AdminUnit]:
    """The 2025 communes a 2021 commune became, the default first; [] when none is known."""
    links = CommuneSuccessor.objects.filter(old=commune).select_related("new")
    return [link.new for link in links.order_by("-is_default", "new__code")]


def default_successor(commune: AdminUnit) -> AdminUnit | None:
    """The 2025 commune a 2021 commune's households go to by default; None when none is known."""
    link = CommuneSuccessor.objects.filter(old=commune, is_default=True).select_related("new").first()
    return link.new if link else None
