"""Validation of personal identifiers and other registry values.

Pure functions: they take values and return a cleaned value or raise
ValidationError with a message that names what is wrong.
"""

import re
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

# The mask lives with the rest of the personal-data rules, below the apps that show IDs.
from core.personal_data import MASK, is_masked_personal_id, mask_personal_id  # noqa: F401

_DIGITS = re.compile(r"^[0-9]+$")
_SEPARATORS = re.compile(r"[\s.\-]")
# Excel turns a long number into scientific notation ("1.23457E+11") or a float ("1.23e11").
_SCIENTIFIC = re.compile(r"^[0-9]+([.,][0-9]+)?[eE][+-]?[0-9]+$")


@dataclass(frozen=True)
class PersonalId:
    value: str
    is_legacy: bool


def clean_personal_id(raw: str, *, sex: str | None = None, birth_year: int | None = None) -> PersonalId:
    """Check a personal ID: 12 digits (số định danh cá nhân), or an old 9-digit ID.

    The 12-digit number is laid out as 3 digits for the province of birth
    registration, 1 digit for century and sex, 2 digits for the birth year and
    6 digits of serial. When sex and birth year are known they must agree with
    digits 4 to 6: 0/1 = male/female born 1900–1999, 2/3 = 2000–2099,
    4/5 = 2100–2199 (a reported layout, checked only where it can be).
    """
    value = _SEPARATORS.sub("", raw or "")
    if not value:
        return PersonalId("", False)
    if _SCIENTIFIC.match(raw.strip()):
        raise ValidationError(
            _("The personal ID “%(value)s” was turned into a number by a spreadsheet; "
              "enter it as text with all 12 digits."),
            code="scientific", params={"value": raw.strip()},
        )
    if not _DIGITS.match(value):
        raise ValidationError(
            _("A personal ID contains digits only (got “%(value)s”)."),
            code="not_digits", params={"value": raw.strip()},
        )
    if len(value) == 9:
        return PersonalId(value, True)
    if len(value) != 12:
        raise ValidationError(
            _("A personal ID has 12 digits (an old ID card number has 9); “%(value)s” has %(count)d."),
            code="length", params={"value": value, "count": len(value)},
        )
    century_sex = int(value[3])
    if century_sex > 5:
        raise ValidationError(
            _("The fourth digit of a personal ID (century and sex) cannot be %(digit)d."),
            code="century", params={"digit": century_sex},
        )
    if sex in ("male", "female"):
        expected_female = century_sex % 2 == 1
        if expected_female != (sex == "female"):
            raise ValidationError(
                _("The personal ID %(value)s is that of a %(id_sex)s, but the member is recorded as %(sex)s."),
                code="sex_mismatch",
                params={
                    "value": value,
                    "id_sex": _("woman") if expected_female else _("man"),
                    "sex": _("female") if sex == "female" else _("male"),
                },
            )
    if birth_year:
        id_year = 1900 + 100 * (century_sex // 2) + int(value[4:6])
        if id_year != birth_year:
            raise ValidationError(
                _("The personal ID %(value)s says born in %(id_year)d, but the year of birth is %(year)d."),
                code="year_mismatch", params={"value": value, "id_year": id_year, "year": birth_year},
            )
    return PersonalId(value, False)
