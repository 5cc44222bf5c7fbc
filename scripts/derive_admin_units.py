#!/usr/bin/env python
"""Derive geo/data/admin_units_<edition>.csv from the vietnam-provinces package,
and geo/data/commune_successors.csv from the vietnamadminunits package.

The app does not depend on vietnam-provinces at run time: the two editions of
the map need two incompatible versions of the package (0.6.0 for 2021,
2025.10.1 for 2025), so we freeze each into a small committed CSV and load that.

Usage:
    python scripts/derive_admin_units.py --edition 2021 PATH
    python scripts/derive_admin_units.py --edition 2025 PATH

PATH is the package's ``data/nested-divisions.json``, or the ``vietnam_provinces``
package directory (installed or extracted from the wheel) that contains it.

    python scripts/derive_admin_units.py --successors PATH

PATH is the ``vietnamadminunits`` package directory (installed or extracted from
the wheel): its ``data/converter_2025.json`` (old commune -> new commune, keyed by
names) and ``data/dataset.db`` (the codes of both maps). Reads the two committed
admin_units files too, because every code written must be one the loader knows.

Needs only the standard library, so it runs outside the Django project.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sqlite3
import sys
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = REPO_ROOT / "geo" / "data"

HEADER = ["level", "code", "name", "kind", "is_urban", "parent_code"]
LEVELS = ("province", "district", "commune")
# Official codes (QĐ 124/2004/QĐ-TTg, QĐ 19/2025/QĐ-TTg) are fixed-width strings;
# the package stores them as ints, which drops the leading zeros.
CODE_WIDTH = {"province": 2, "district": 3, "commune": 5}

# 0.6.0 labels every ward "xã" and every district "huyện", so the kind has to be
# read from the name. Longer prefixes first ("Thị trấn" before any shorter match).
# Matching is case-insensitive because the source has "Thành Phố Bắc Kạn" and
# "Thành Phố Đồng Hới"; the kind is always written in the canonical casing.
NAME_PREFIXES = {
    "province": ("Thành phố", "Tỉnh"),
    "district": ("Thành phố", "Thị xã", "Huyện", "Quận"),
    "commune": ("Thị trấn", "Phường", "Xã"),
}

# 2025.x carries a usable division_type on every unit.
DIVISION_TYPES_2025 = {
    "province": {"tỉnh": "Tỉnh", "thành phố trung ương": "Thành phố"},
    "commune": {"xã": "Xã", "phường": "Phường", "đặc khu": "Đặc khu"},
}

# Phường (ward) and thị trấn (township) are urban units; xã is rural. Đặc khu
# (special zone, 2025: island units such as Phú Quốc, Côn Đảo) has no urban/rural
# status in law; we count it as rural, which is how these mostly island/maritime
# units were classified before (they replaced island huyện), and so that the
# rural poverty standard applies by default.
URBAN_KINDS = {"Phường", "Thị trấn"}

Row = dict[str, str]


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text).strip()


def pad(level: str, code: Any) -> str:
    if isinstance(code, bool) or not isinstance(code, int) or code < 0:
        raise ValueError(f"{level} code {code!r} is not a non-negative integer")
    padded = str(code).zfill(CODE_WIDTH[level])
    if len(padded) != CODE_WIDTH[level]:
        raise ValueError(f"{level} code {code} is wider than {CODE_WIDTH[level]} digits")
    return padded


def kind_from_name(level: str, name: str) -> str:
    folded = name.casefold()
    for prefix in NAME_PREFIXES[level]:
        if folded.startswith(prefix.casefold() + " "):
            return prefix
    raise ValueError(f"cannot tell the kind of {level} {name!r} from its name")


def kind_from_type(level: str, division_type: str, name: str) -> str:
    try:
        return DIVISION_TYPES_2025[level][nfc(division_type)]
    except KeyError:
        raise ValueError(f"unknown division_type {division_type!r} for {level} {name!r}") from None


def make_row(level: str, code: str, name: str, kind: str, parent_code: str) -> Row:
    return {
        "level": level,
        "code": code,
        "name": name,
        "kind": kind,
        # Districts and provinces are never "urban" for our purposes: the
        # poverty standard is chosen per commune.
        "is_urban": "true" if level == "commune" and kind in URBAN_KINDS else "false",
        "parent_code": parent_code,
    }


def rows_2021(provinces: list[dict[str, Any]]) -> Iterator[Row]:
    for p in provinces:
        if p.get("wards"):
            raise ValueError("2021 data must not have communes directly under a province")
        p_code, p_name = pad("province", p["code"]), nfc(p["name"])
        yield make_row("province", p_code, p_name, kind_from_name("province", p_name), "")
        for d in p.get("districts", []):
            d_code, d_name = pad("district", d["code"]), nfc(d["name"])
            yield make_row("district", d_code, d_name, kind_from_name("district", d_name), p_code)
            for w in d.get("wards", []):
                w_code, w_name = pad("commune", w["code"]), nfc(w["name"])
                yield make_row("commune", w_code, w_name, kind_from_name("commune", w_name), d_code)


def rows_2025(provinces: list[dict[str, Any]]) -> Iterator[Row]:
    for p in provinces:
        if p.get("districts"):
            raise ValueError("2025 data must not have districts (the 2025 map abolished them)")
        p_code, p_name = pad("province", p["code"]), nfc(p["name"])
        yield make_row("province", p_code, p_name, kind_from_type("province", p["division_type"], p_name), "")
        for w in p.get("wards", []):
            w_code, w_name = pad("commune", w["code"]), nfc(w["name"])
            yield make_row("commune", w_code, w_name, kind_from_type("commune", w["division_type"], w_name), p_code)


def sort_rows(rows: Iterable[Row]) -> list[Row]:
    rows = list(rows)
    seen: set[tuple[str, str]] = set()
    for row in rows:
        key = (row["level"], row["code"])
        if key in seen:
            raise ValueError(f"duplicate {row['level']} code {row['code']}")
        seen.add(key)
    # Provinces, then districts, then communes, so a loader reading top-down
    # always meets a parent before its children; codes are fixed-width, so
    # string order is numeric order.
    return sorted(rows, key=lambda r: (LEVELS.index(r["level"]), r["code"]))


def derive(source: Path, edition: int) -> list[Row]:
    with source.open(encoding="utf-8") as fh:
        provinces = json.load(fh)
    if not isinstance(provinces, list):
        raise ValueError(f"{source.name}: expected a list of provinces")
    generate = {2021: rows_2021, 2025: rows_2025}[edition]
    return sort_rows(generate(provinces))


def write_csv(rows: list[Row], target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    # "\n" line endings keep the committed file diff-friendly on every platform.
    with target.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=HEADER, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def resolve_source(path: Path) -> Path:
    if path.is_dir():
        for candidate in (path / "data" / "nested-divisions.json", path / "nested-divisions.json"):
            if candidate.is_file():
                return candidate
        raise FileNotFoundError(f"no data/nested-divisions.json under {path}")
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    return path


# --- successors: 2021 commune -> 2025 commune(s) ---------------------------------

SUCCESSOR_HEADER = ["old_code", "new_code", "is_default"]


def name_key(name: str) -> str:
    """A name as the package keys it: no accents, no case, letters and digits only.

    "Xã Thuận Hoà" and "Xã Thuận Hòa", "Chân Mây – Lăng Cô" and "Chân Mây - Lăng Cô"
    get the same key.
    """
    text = unicodedata.normalize("NFD", name.replace("đ", "d").replace("Đ", "D"))
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    return re.sub(r"[^0-9a-z]", "", text)


def read_units(path: Path) -> list[Row]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


class SuccessorReport:
    """What the derivation could not map one to one, for geo/data/README.md."""

    def __init__(self) -> None:
        self.old_by_name: list[tuple[str, str, str]] = []  # (package code, our code, name)
        self.old_unknown: list[tuple[str, str, str]] = []  # (package code, name, district)
        self.new_code_differs: list[tuple[str, str, str]] = []  # (package code, our code, name)
        self.unmapped_ours: list[tuple[str, str]] = []  # (our 2021 code, name)
        self.wardless_districts: list[str] = []


def derive_successors(package_dir: Path, data_dir: Path = DATA_DIR) -> tuple[list[Row], SuccessorReport]:
    """Every 2021 commune the package converts, with its 2025 successor(s), in our codes.

    The package keys its conversion by names ("tinhlaocai_huyenmuongkhuong_xatathang"
    -> "xabanlau" within the new province "tinhlaocai"); its dataset.db gives the
    codes. Old communes are matched to our 2021 edition by code (and district);
    the few whose code the package spells differently, by name within the
    district. New communes are matched to our 2025 edition by name within the
    province, because the package's 2025 codes disagree with vietnam-provinces on
    about 130 communes (some are swapped between neighbours), while the names agree.
    """
    report = SuccessorReport()
    with (package_dir / "data" / "converter_2025.json").open(encoding="utf-8") as fh:
        converter = json.load(fh)
    db = sqlite3.connect(f"file:{package_dir / 'data' / 'dataset.db'}?mode=ro", uri=True)
    db.row_factory = sqlite3.Row
    legacy = db.execute(
        "SELECT provinceKey, districtKey, wardKey, wardCode, ward, district, districtCode FROM admin_units_legacy"
    ).fetchall()
    current = db.execute("SELECT provinceKey, provinceCode, wardKey, wardCode, ward FROM admin_units").fetchall()
    db.close()

    ours_2021 = [r for r in read_units(data_dir / "admin_units_2021.csv") if r["level"] == "commune"]
    ours_2025 = [r for r in read_units(data_dir / "admin_units_2025.csv") if r["level"] == "commune"]
    by_code_2021 = {r["code"]: r for r in ours_2021}
    by_name_2021: dict[tuple[str, str], list[str]] = defaultdict(list)
    for r in ours_2021:
        by_name_2021[(r["parent_code"], name_key(r["name"]))].append(r["code"])
    by_name_2025: dict[tuple[str, str], list[str]] = defaultdict(list)
    for r in ours_2025:
        by_name_2025[(r["parent_code"], name_key(r["name"]))].append(r["code"])

    # The package's old key -> our 2021 code.
    old_code: dict[str, str] = {}
    for r in legacy:
        key = f"{r['provinceKey']}_{r['districtKey']}_{r['wardKey'] or ''}"
        if not r["wardCode"]:
            # An island district without communes (Bạch Long Vĩ, Cồn Cỏ, Hoàng Sa,
            # Lý Sơn, Côn Đảo): it becomes a đặc khu, but there is no commune to map.
            report.wardless_districts.append(nfc(r["district"]))
            continue
        code = pad("commune", int(r["wardCode"]))
        mine = by_code_2021.get(code)
        if mine is not None and mine["parent_code"] == r["districtCode"]:
            old_code[key] = code
            continue
        named = by_name_2021.get((r["districtCode"], name_key(r["ward"])), [])
        if len(named) == 1:
            old_code[key] = named[0]
            report.old_by_name.append((code, named[0], nfc(r["ward"])))
        else:
            report.old_unknown.append((code, nfc(r["ward"]), nfc(r["district"])))

    # The package's (new province key, new ward key) -> our 2025 code.
    new_code: dict[tuple[str, str], str] = {}
    for r in current:
        code = pad("commune", int(r["wardCode"]))
        named = by_name_2025.get((r["provinceCode"], name_key(r["ward"])), [])
        if code in named:
            new_code[(r["provinceKey"], r["wardKey"])] = code
        elif len(named) == 1:
            new_code[(r["provinceKey"], r["wardKey"])] = named[0]
            report.new_code_differs.append((code, named[0], nfc(r["ward"])))
        else:
            raise ValueError(f"2025 commune {code} {r['ward']!r}: no single commune of that name in our 2025 edition")

    successors: dict[str, dict[str, bool]] = defaultdict(dict)
    for province_key, wards in converter["DICT_PROVINCE_WARD_NO_DIVIDED"].items():
        for new_key, old_keys in wards.items():
            for key in old_keys:
                if key in old_code:
                    successors[old_code[key]][new_code[(province_key, new_key)]] = True
    for province_key, olds in converter["DICT_PROVINCE_WARD_DIVIDED"].items():
        for key, parts in olds.items():
            if key not in old_code:
                continue
            for part in parts:
                successors[old_code[key]][new_code[(province_key, part["newWardKey"])]] = bool(
                    part["isDefaultNewWard"]
                )

    rows: list[Row] = []
    for old in sorted(successors):
        targets = successors[old]
        if sum(targets.values()) != 1:
            raise ValueError(f"2021 commune {old}: {sum(targets.values())} default successors, expected one")
        for new in sorted(targets):
            rows.append({"old_code": old, "new_code": new, "is_default": "true" if targets[new] else "false"})
    report.unmapped_ours = [(r["code"], r["name"]) for r in ours_2021 if r["code"] not in successors]
    return rows, report


def package_version(package_dir: Path) -> str:
    """The version from the wheel's (or the installation's) dist-info next to the package."""
    for meta in sorted(package_dir.parent.glob("vietnamadminunits-*.dist-info/METADATA")):
        for line in meta.read_text(encoding="utf-8").splitlines():
            if line.startswith("Version:"):
                return line.split(":", 1)[1].strip()
    return "unknown"


def write_successors(rows: list[Row], target: Path) -> None:
    with target.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=SUCCESSOR_HEADER, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def main_successors(package_dir: Path, target: Path | None) -> int:
    try:
        rows, report = derive_successors(package_dir)
    except (OSError, ValueError, KeyError, sqlite3.Error) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    target = target or DATA_DIR / "commune_successors.csv"
    write_successors(rows, target)
    olds = {r["old_code"] for r in rows}
    per_old: dict[str, int] = defaultdict(int)
    for r in rows:
        per_old[r["old_code"]] += 1
    divided = sum(1 for n in per_old.values() if n > 1)
    print(f"{target.name}: vietnamadminunits {package_version(package_dir)}, {len(rows)} rows, "
          f"{len(olds)} 2021 communes with a successor ({len(olds) - divided} whole, {divided} divided), "
          f"{len({r['new_code'] for r in rows})} 2025 communes reached")
    print(f"  2021 codes matched by name, package code differs: {report.old_by_name}")
    print(f"  package 2021 communes not in our 2021 edition: {report.old_unknown}")
    print(f"  2025 communes whose package code differs from ours: {len(report.new_code_differs)}")
    print(f"  our 2021 communes without a successor: {report.unmapped_ours}")
    print(f"  districts without communes, not mapped: {report.wardless_districts}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "source", type=Path,
        help="nested-divisions.json or the vietnam_provinces package directory; "
        "with --successors, the vietnamadminunits package directory",
    )
    parser.add_argument("--edition", type=int, choices=(2021, 2025))
    parser.add_argument("--successors", action="store_true", help="write geo/data/commune_successors.csv")
    parser.add_argument("--output", type=Path, help="default: geo/data/admin_units_<edition>.csv")
    args = parser.parse_args(argv)
    if args.successors:
        return main_successors(args.source, args.output)
    if args.edition is None:
        parser.error("--edition or --successors is required")

    try:
        rows = derive(resolve_source(args.source), args.edition)
    except (OSError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    target = args.output or DATA_DIR / f"admin_units_{args.edition}.csv"
    write_csv(rows, target)

    counts = {level: sum(r["level"] == level for r in rows) for level in LEVELS}
    print(f"{target.name}: " + ", ".join(f"{n} {level}s" for level, n in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
