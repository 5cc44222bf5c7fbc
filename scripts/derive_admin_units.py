#!/usr/bin/env python
"""Derive geo/data/admin_units_<edition>.csv from the vietnam-provinces package.

The app does not depend on vietnam-provinces at run time: the two editions of
the map need two incompatible versions of the package (0.6.0 for 2021,
2025.10.1 for 2025), so we freeze each into a small committed CSV and load that.

Usage:
    python scripts/derive_admin_units.py --edition 2021 PATH
    python scripts/derive_admin_units.py --edition 2025 PATH

PATH is the package's ``data/nested-divisions.json``, or the ``vietnam_provinces``
package directory (installed or extracted from the wheel) that contains it.

Needs only the standard library, so it runs outside the Django project.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import unicodedata
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="nested-divisions.json or the vietnam_provinces package directory")
    parser.add_argument("--edition", type=int, choices=(2021, 2025), required=True)
    parser.add_argument("--output", type=Path, help="default: geo/data/admin_units_<edition>.csv")
    args = parser.parse_args(argv)

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
