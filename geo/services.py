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

from .models import AdminUnit

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
