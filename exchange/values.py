"""Cell values of the exchange format: parsing on import, formatting on export.

Each parser takes a cell as the reader gives it (text, or for XLSX a number,
a date or a boolean) and returns the clean value, or raises ValidationError
with a message that names the value. Parsers never guess: a value that could
mean two things is refused with a message saying what to write instead.

The formatters write what the parsers read back unchanged, in the fixed
Vietnamese of the exchange format (not translated: a file written in English
by one user must import for every other user).
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from core.text import fold, nfc
from households.models import Household, Member
from households.validators import PersonalId, clean_personal_id

# Years outside this range are typing mistakes whatever the column; the
# registry services apply the stricter rule of each field.
MIN_YEAR = 1900
MAX_YEAR = 2100

# An Excel serial day number is read as a date only when it is a plausible
# birth date: 10000 is 18/05/1927 and smaller numbers are more likely a year
# or a count than a date that lost its format.
MIN_PLAUSIBLE_SERIAL = 10_000
# Day 0 of Excel's 1900 date system, counting its fictitious 29/02/1900.
_EXCEL_EPOCH = date(1899, 12, 30)

# Larger amounts are not a monthly income; the cap also keeps values inside a
# 64-bit database column.
MAX_MONEY = 10**12 - 1


def _show(value: Any) -> str:
    """A cell as the message quotes it."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, datetime | date):
        return value.strftime("%d/%m/%Y") if value.year >= 1000 else value.isoformat()
    text = nfc(str(value)) if value is not None else ""
    return text if len(text) <= 60 else text[:57] + "…"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _whole(value: int | float) -> int | None:
    """The integer a numeric cell holds, or None if it is not a whole finite number."""
    if isinstance(value, int):
        return value
    if math.isfinite(value) and value.is_integer():
        return int(value)
    return None


_SEPARATORS = re.compile(r"\s*[/,;&+\\-]\s*")
_NOT_KEY = re.compile(r"[^a-z0-9/ ]")


def _key(value: Any) -> str:
    """Comparable form of a text choice: folded, separators as "/", single spaces."""
    text = str(value)
    return _cached_key(text) if len(text) <= 64 else _make_key(text)


@lru_cache(maxsize=2048)
def _cached_key(text: str) -> str:
    # The same few spellings ("Nam", "Nữ", "Có", "Con"…) fill a whole file.
    return _make_key(text)


@lru_cache(maxsize=256)
def _cached_fold(text: str) -> str:
    return fold(text)


def _make_key(text: str) -> str:
    return _NOT_KEY.sub("", _SEPARATORS.sub("/", fold(text))).strip(" /")


# -- yes / no -----------------------------------------------------------------

_YES = {"co", "x", "1", "yes", "y", "true", "dung", "✓", "✔"}
# "-" is how many lists mark "none"; "+" is left ambiguous and refused.
_NO = {"khong", "0", "no", "n", "false", "sai", "k", "-"}


def parse_yes_no(value: Any) -> bool:
    """`Có`/`Không`, `x`/empty, `1`/`0`, yes/no, true/false; empty is no."""
    if value is None or isinstance(value, bool):
        return bool(value)
    if _is_number(value):
        if value in (0, 1):
            return bool(value)
    else:
        # Folded only: "-" and "+" are not separators here ("-" is no, "+" is refused).
        text = str(value)
        key = _cached_fold(text) if len(text) <= 64 else fold(text)
        if key in _YES:
            return True
        if key in _NO or key == "":
            return False
    raise ValidationError(
        _("“%(value)s” is not a yes/no value; write “Có” or “Không” (or “x” for yes and leave empty for no)."),
        code="yes_no", params={"value": _show(value)},
    )


def format_yes_no(value: bool | None) -> str:
    return "Có" if value else "Không"


# -- years and dates ----------------------------------------------------------

def _check_year(year: int, raw: Any) -> int:
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise ValidationError(
            _("The year in “%(value)s” must be between %(min)d and %(max)d."),
            code="year_range", params={"value": _show(raw), "min": MIN_YEAR, "max": MAX_YEAR},
        )
    return year


def parse_year(value: Any) -> int:
    """A four-digit year between MIN_YEAR and MAX_YEAR (text or a numeric cell)."""
    year: int | None = None
    if _is_number(value):
        year = _whole(value)
    elif isinstance(value, str) and re.fullmatch(r"\d{4}", value.strip()):
        year = int(value.strip())
    if year is None:
        raise ValidationError(
            _("“%(value)s” is not a year; write four digits, for example 2025."),
            code="year", params={"value": _show(value)},
        )
    return _check_year(year, value)


_DMY = re.compile(r"(\d{1,2})\s*[/.\-]\s*(\d{1,2})\s*[/.\-]\s*(\d{4})")
_ISO = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
# A date cell that a CSV export wrote with its (empty) time of day.
_MIDNIGHT = re.compile(r"\s+0{1,2}:00(:00)?$")


def _make_date(year: int, month: int, day: int, raw: Any) -> date:
    _check_year(year, raw)
    try:
        return date(year, month, day)
    except ValueError:
        raise ValidationError(
            _("“%(value)s” is not a date that exists; write the day, month and year as dd/mm/yyyy."),
            code="no_such_date", params={"value": _show(raw)},
        ) from None


def parse_date_or_year(value: Any) -> tuple[date | None, int]:
    """A full date or a bare year, returned as (date or None, year).

    Accepted: dd/mm/yyyy, d/m/yyyy, dd-mm-yyyy, dd.mm.yyyy (day first, as
    written in Vietnam), yyyy-mm-dd, a bare yyyy, an Excel date cell, and an
    Excel day number that lost its date format when it is a plausible birth
    date (from 1927 to today). A four-digit number is always a year.
    """
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return value, _check_year(value.year, value)
    if _is_number(value):
        number = _whole(value)
        if number is not None and 1000 <= number <= 9999:
            return None, _check_year(number, value)
        today_serial = (date.today() - _EXCEL_EPOCH).days
        if number is not None and MIN_PLAUSIBLE_SERIAL <= number <= today_serial:
            day = _EXCEL_EPOCH + timedelta(days=number)
            return day, day.year
    elif isinstance(value, str):
        text = _MIDNIGHT.sub("", value.strip())
        if re.fullmatch(r"\d{4}", text):
            return None, _check_year(int(text), value)
        if match := _DMY.fullmatch(text):
            day, month, year = (int(part) for part in match.groups())
            found = _make_date(year, month, day, value)
            return found, found.year
        if match := _ISO.fullmatch(text):
            year, month, day = (int(part) for part in match.groups())
            found = _make_date(year, month, day, value)
            return found, found.year
    raise ValidationError(
        _("“%(value)s” is not a date; write dd/mm/yyyy (for example 05/03/1987) or only the year (1987)."),
        code="date", params={"value": _show(value)},
    )


def format_date(value: date | None, year: int | None = None) -> str:
    """dd/mm/yyyy for a full date, yyyy when only the year is known, else empty."""
    if value is not None:
        return f"{value.day:02d}/{value.month:02d}/{value.year:04d}"
    return f"{year:04d}" if year else ""


# -- money ----------------------------------------------------------------------

# Thousands separated by one kind of separator used throughout: 1.500.000,
# 1,500,000 or 1 500 000 (spaces include the no-break spaces Excel writes).
_GROUPED = re.compile(r"\d{1,3}(?:(?P<sep>[., ])\d{3})(?:(?P=sep)\d{3})*")
_CURRENCY = re.compile(r"\s*(đ|đồng|vnd|vnđ|₫)\.?$", re.IGNORECASE)


def parse_money(value: Any) -> int:
    """A whole, non-negative amount of VND."""
    amount: int | None = None
    negative = False
    if _is_number(value):
        amount = _whole(value)
        if amount is None:
            if isinstance(value, float) and math.isfinite(value):
                raise ValidationError(
                    _("“%(value)s” has decimals; an amount is whole đồng."),
                    code="money_decimals", params={"value": _show(value)},
                )
        elif amount < 0:
            negative = True
    elif isinstance(value, str):
        text = re.sub(r"[\u00a0\u202f\u2007]", " ", value.strip())
        text = _CURRENCY.sub("", text).strip()
        if text.startswith("-") or (text.startswith("(") and text.endswith(")")):
            negative = True
        elif re.fullmatch(r"\d+", text):
            amount = int(text)
        elif _GROUPED.fullmatch(text):
            amount = int(re.sub(r"\D", "", text))
        elif re.fullmatch(r"\d+[.,]\d+|\d{1,3}(?:[., ]\d{3})+[.,]\d{1,2}", text):
            raise ValidationError(
                _("“%(value)s” has decimals; an amount is whole đồng, written 1500000 or 1.500.000."),
                code="money_decimals", params={"value": _show(value)},
            )
    if negative:
        raise ValidationError(
            _("“%(value)s” is negative; an amount cannot be below zero."),
            code="money_negative", params={"value": _show(value)},
        )
    if amount is None:
        raise ValidationError(
            _("“%(value)s” is not an amount; write whole đồng, for example 1500000 or 1.500.000."),
            code="money", params={"value": _show(value)},
        )
    if amount > MAX_MONEY:
        raise ValidationError(
            _("“%(value)s” is too large for an amount."), code="money_range", params={"value": _show(value)},
        )
    return amount


def format_money(value: int | None) -> str:
    """Plain digits, no separators: what every spreadsheet reads as the same number."""
    return "" if value is None else str(int(value))


# -- codes ------------------------------------------------------------------------

def parse_commune_code(value: Any) -> str:
    """The 5-digit commune code; leading zeros that Excel stripped are put back (2794 → 02794)."""
    digits: str | None = None
    if _is_number(value):
        number = _whole(value)
        if number is not None and number >= 0:
            digits = str(number)
    elif isinstance(value, str):
        text = value.strip()
        # "2794.0": a number that went through a tool writing floats.
        match = re.fullmatch(r"(\d+)(?:\.0+)?", text)
        digits = match.group(1) if match else None
        if not text:
            raise ValidationError(_("The commune code is empty."), code="commune_empty")
    # Excel only ever removes zeros: more than 5 digits is another number.
    if digits is not None and len(digits) <= 5 and digits.strip("0"):
        return digits.zfill(5)
    raise ValidationError(
        _("“%(value)s” is not a commune code; a commune code has 5 digits, for example 02794."),
        code="commune_code", params={"value": _show(value)},
    )


def parse_personal_id(value: Any, *, sex: str | None = None, birth_year: int | None = None) -> PersonalId:
    """A personal ID written as text. An ID that a spreadsheet stored as a number
    has lost its leading zero (every province code starts with 0) and perhaps
    its last digits: it is refused with a message saying so, never repaired."""
    if _is_number(value) or (isinstance(value, str) and re.fullmatch(r"\s*\d+\.0+\s*", value)):
        raise ValidationError(
            _("The personal ID “%(value)s” was stored by Excel as a number, which drops its leading zero; "
              "format the column as Text and enter all 12 digits."),
            code="number", params={"value": _show(value)},
        )
    text = "" if value is None else str(value)
    if isinstance(value, datetime | date):
        text = _show(value)
    digits = re.sub(r"[\s.\-]", "", text)
    if digits.isascii() and digits.isdigit() and len(digits) in (8, 11):
        raise ValidationError(
            _("The personal ID “%(value)s” has %(count)d digits: its leading zero was probably dropped by a "
              "spreadsheet. Format the column as Text and enter the ID in full."),
            code="leading_zero", params={"value": text.strip(), "count": len(digits)},
        )
    return clean_personal_id(text, sex=sex, birth_year=birth_year)


# -- choices --------------------------------------------------------------------

SEX_LABELS: dict[str, str] = {Member.Sex.MALE: "Nam", Member.Sex.FEMALE: "Nữ"}
_SEX = {
    "nam": Member.Sex.MALE, "m": Member.Sex.MALE, "male": Member.Sex.MALE,
    "nu": Member.Sex.FEMALE, "f": Member.Sex.FEMALE, "female": Member.Sex.FEMALE,
}

RELATION_LABELS: dict[str, str] = {
    Member.Relation.HEAD: "Chủ hộ",
    Member.Relation.SPOUSE: "Vợ/Chồng",
    Member.Relation.CHILD: "Con",
    Member.Relation.PARENT: "Bố/Mẹ",
    Member.Relation.GRANDPARENT: "Ông/Bà",
    Member.Relation.GRANDCHILD: "Cháu",
    Member.Relation.SIBLING: "Anh/Chị/Em",
    Member.Relation.OTHER: "Khác",
}
_RELATION_SPELLINGS: dict[str, tuple[str, ...]] = {
    Member.Relation.HEAD: ("chu ho",),
    Member.Relation.SPOUSE: ("vo", "chong", "vo chong", "chong/vo"),
    Member.Relation.CHILD: ("con trai", "con gai", "con de", "con nuoi", "con rieng"),
    # Folded, "Bà" (grandmother) and "Ba" are one spelling; the list's
    # wording is "Ông/Bà", so "ba" reads as grandmother.
    Member.Relation.PARENT: ("bo", "me", "cha", "cha/me", "bo me", "cha me", "me/bo"),
    Member.Relation.GRANDPARENT: ("ong", "ba", "ong ba", "ba/ong", "ong noi", "ba noi", "ong ngoai", "ba ngoai"),
    Member.Relation.GRANDCHILD: ("chau noi", "chau ngoai"),
    Member.Relation.SIBLING: ("anh", "chi", "em", "anh chi em", "anh/chi", "anh/em", "chi/em", "anh em",
                              "anh trai", "chi gai", "em trai", "em gai"),
    Member.Relation.OTHER: (),
}
_RELATION = {
    **{_key(label): value for value, label in RELATION_LABELS.items()},
    **{spelling: value for value, spellings in _RELATION_SPELLINGS.items() for spelling in spellings},
    **{str(value): value for value in Member.Relation},
}

AREA_LABELS: dict[str, str] = {Household.Area.URBAN: "Thành thị", Household.Area.RURAL: "Nông thôn"}
_AREA = {
    **{_key(label): value for value, label in AREA_LABELS.items()},
    **{str(value): value for value in Household.Area},
}

CLASSIFICATION_LABELS: dict[str, str] = {
    Household.Classification.POOR: "Hộ nghèo",
    Household.Classification.NEAR_POOR: "Hộ cận nghèo",
    Household.Classification.MIDDLE: "Hộ có mức sống trung bình",
    Household.Classification.NONE: "Không",
}
_CLASSIFICATION = {
    "ngheo": Household.Classification.POOR,
    "can ngheo": Household.Classification.NEAR_POOR,
    "co muc song trung binh": Household.Classification.MIDDLE,
    "muc song trung binh": Household.Classification.MIDDLE,
    "khong": Household.Classification.NONE,
    "": Household.Classification.NONE,
    **{str(value): value for value in Household.Classification},
}


def _choice(value: Any, table: dict[str, str], labels: dict[str, str], code: str) -> str:
    if isinstance(value, str):
        found = table.get(_key(value))
        if found is not None:
            return str(found)
    raise ValidationError(
        _("“%(value)s” is not one of: %(choices)s."),
        code=code, params={"value": _show(value), "choices": ", ".join(labels.values())},
    )


def parse_sex(value: Any) -> str:
    """`Nam`/`Nữ` (also nam/nu, M/F, male/female) → Member.Sex."""
    return _choice(value, _SEX, SEX_LABELS, "sex")


def parse_relation(value: Any) -> str:
    """`Chủ hộ`, `Vợ/Chồng`, `Con`, `Bố/Mẹ`, `Ông/Bà`, `Cháu`, `Anh/Chị/Em`, `Khác` → Member.Relation."""
    return _choice(value, _RELATION, RELATION_LABELS, "relation")


def parse_area(value: Any) -> str:
    """`Thành thị`/`Nông thôn` → Household.Area."""
    return _choice(value, _AREA, AREA_LABELS, "area")


def parse_classification(value: Any) -> str:
    """`Hộ nghèo`, `Hộ cận nghèo`, `Hộ có mức sống trung bình`, `Không` → Household.Classification;
    "Hộ" may be left out and diacritics may be missing; empty is `Không`."""
    if isinstance(value, str):
        key = _key(value)
        if key.startswith("ho "):
            key = key[3:]
        found = _CLASSIFICATION.get(key)
        if found is not None:
            return str(found)
    elif value is None:
        return str(Household.Classification.NONE)
    raise ValidationError(
        _("“%(value)s” is not one of: %(choices)s."),
        code="classification",
        params={"value": _show(value), "choices": ", ".join(CLASSIFICATION_LABELS.values())},
    )


def _label(labels: dict[str, str], value: str | None) -> str:
    if not value:
        return ""
    try:
        return labels[value]
    except KeyError:
        raise ValueError(f"unknown choice {value!r}") from None


def format_sex(value: str | None) -> str:
    return _label(SEX_LABELS, value)


def format_relation(value: str | None) -> str:
    return _label(RELATION_LABELS, value)


def format_area(value: str | None) -> str:
    return _label(AREA_LABELS, value)


def format_classification(value: str | None) -> str:
    return _label(CLASSIFICATION_LABELS, value)
