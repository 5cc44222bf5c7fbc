"""Cell values of the exchange format: what staff write is read, what cannot be
read is refused with a message naming the value, and what we write reads back."""

import contextlib
import math
import unicodedata
from datetime import date, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given, settings
from hypothesis import strategies as st

from exchange import values as v
from households.models import Household, Member


def refused(parser, raw, **kwargs) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        parser(raw, **kwargs)
    return caught.value


def message(error: ValidationError) -> str:
    return " ".join(error.messages)


# -- yes / no ----------------------------------------------------------------------------

@pytest.mark.parametrize("raw", ["Có", "có", "CÓ", "Co", "x", "X", " x ", "1", 1, 1.0, True, "yes", "Yes", "true",
                                 "TRUE", unicodedata.normalize("NFD", "Có"), "✓"])
def test_yes(raw):
    assert v.parse_yes_no(raw) is True


@pytest.mark.parametrize("raw", ["Không", "không", "KHONG", "khong", "", "  ", None, "0", 0, 0.0, False, "no", "false",
                                 "-"])
def test_no(raw):
    assert v.parse_yes_no(raw) is False


@pytest.mark.parametrize("raw", ["có lẽ", "2", 2, 0.5, "xx", "maybe", "+", "x x"])
def test_neither_yes_nor_no(raw):
    error = refused(v.parse_yes_no, raw)
    assert str(raw) in message(error) and "Có" in message(error)


# -- dates and years --------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "expected"), [
    ("05/03/1987", (date(1987, 3, 5), 1987)),
    ("5/3/1987", (date(1987, 3, 5), 1987)),
    ("05-03-1987", (date(1987, 3, 5), 1987)),
    ("05.03.1987", (date(1987, 3, 5), 1987)),
    (" 31/12/2000 ", (date(2000, 12, 31), 2000)),
    ("1987-03-05", (date(1987, 3, 5), 1987)),
    ("05/03/1987 00:00:00", (date(1987, 3, 5), 1987)),
    ("1987", (None, 1987)),
    (1987, (None, 1987)),
    (1987.0, (None, 1987)),
    (date(1987, 3, 5), (date(1987, 3, 5), 1987)),
    (datetime(1987, 3, 5, 0, 0), (date(1987, 3, 5), 1987)),
    (31841, (date(1987, 3, 5), 1987)),  # an Excel day number: the cell lost its date format
    (31841.0, (date(1987, 3, 5), 1987)),
])
def test_dates_in_each_form(raw, expected):
    assert v.parse_date_or_year(raw) == expected


@pytest.mark.parametrize("raw", ["31/02/1987", "32/01/1987", "05/13/1987"])
def test_dates_that_do_not_exist(raw):
    assert "exists" in message(refused(v.parse_date_or_year, raw))


@pytest.mark.parametrize("raw", ["1850", "05/03/1850", "2200", 1850, date(1850, 1, 1)])
def test_years_out_of_range(raw):
    assert "between 1900 and 2100" in message(refused(v.parse_date_or_year, raw))


@pytest.mark.parametrize("raw", ["87", "03/1987", "tháng 3 năm 1987", "1987-3", 500, 9_999_999, 31841.5, math.nan,
                                 math.inf, True, "", "1987/03/05"])
def test_not_dates(raw):
    error = refused(v.parse_date_or_year, raw)
    assert "dd/mm/yyyy" in message(error)


def test_future_day_numbers_are_not_taken_for_dates():
    tomorrow = (date.today() + timedelta(days=1) - date(1899, 12, 30)).days
    refused(v.parse_date_or_year, tomorrow)


@pytest.mark.parametrize(("raw", "expected"), [("2025", 2025), (2025, 2025), (2025.0, 2025), (" 2024 ", 2024)])
def test_years(raw, expected):
    assert v.parse_year(raw) == expected


@pytest.mark.parametrize("raw", ["25", "năm 2025", "2025.5", 2025.5, "1899", 2101, "", None, True])
def test_not_years(raw):
    refused(v.parse_year, raw)


# -- money -----------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "expected"), [
    ("1.500.000", 1_500_000), ("1,500,000", 1_500_000), ("1500000", 1_500_000), ("1 500 000", 1_500_000),
    ("1\u00a0500\u00a0000", 1_500_000), ("1.500.000 đ", 1_500_000), ("1500000 VND", 1_500_000),
    ("0", 0), ("500", 500), ("1.500", 1_500), (1_500_000, 1_500_000), (1_500_000.0, 1_500_000), (0, 0),
])
def test_money(raw, expected):
    assert v.parse_money(raw) == expected


@pytest.mark.parametrize("raw", ["-1500000", "-1.500.000", "(1.500.000)", -5, -5.0])
def test_negative_money(raw):
    assert "negative" in message(refused(v.parse_money, raw))


@pytest.mark.parametrize("raw", ["1500000,50", "1.500.000,50", "1500.5", 1500.5, "1,5"])
def test_money_with_decimals(raw):
    assert "decimals" in message(refused(v.parse_money, raw))


@pytest.mark.parametrize("raw", ["1.50.000", "1,500.000", "một triệu", "", "1 5", True, math.nan, math.inf, 10**13])
def test_not_money(raw):
    refused(v.parse_money, raw)


# -- codes -----------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "expected"), [
    ("02794", "02794"), ("2794", "02794"), (2794, "02794"), (2794.0, "02794"), ("2794.0", "02794"),
    (" 02794 ", "02794"), ("1", "00001"), (31942, "31942"),
])
def test_commune_codes_with_the_zeros_excel_stripped(raw, expected):
    assert v.parse_commune_code(raw) == expected


@pytest.mark.parametrize("raw", ["123456", 123456, "002794", "0279A", "xã 2794", "", "0", "00000", -2794, 2794.5, True,
                                 None, "27 94"])
def test_not_commune_codes(raw):
    refused(v.parse_commune_code, raw)


def test_a_commune_code_message_names_the_value():
    assert "0279A" in message(refused(v.parse_commune_code, "0279A"))


# -- personal IDs ----------------------------------------------------------------------

def test_personal_id_as_text():
    assert v.parse_personal_id("001180012345").value == "001180012345"
    assert v.parse_personal_id(" 001 180 012 345 ", sex="female", birth_year=1980).value == "001180012345"
    old = v.parse_personal_id("012345678")
    assert old.value == "012345678" and old.is_legacy


@pytest.mark.parametrize("raw", [1180012345, 1180012345.0, 123456789012, 1.23457e11, "1180012345.0"])
def test_personal_id_stored_as_a_number_is_refused_never_guessed(raw):
    error = refused(v.parse_personal_id, raw)
    assert error.code == "number"
    assert "stored by Excel as a number" in message(error)


@pytest.mark.parametrize("raw", ["1.23457E+11", "1,23457E+11", "1.23457e11"])
def test_personal_id_in_scientific_notation_is_refused(raw):
    error = refused(v.parse_personal_id, raw)
    assert error.code == "scientific"
    assert "turned into a number" in message(error) and raw in message(error)


@pytest.mark.parametrize("raw", ["11800123456", "12345678"])
def test_personal_id_missing_its_leading_zero_is_refused(raw):
    error = refused(v.parse_personal_id, raw)
    assert error.code == "leading_zero" and "leading zero" in message(error)


def test_personal_id_checks_are_those_of_the_register():
    assert refused(v.parse_personal_id, "00118001234X").code == "not_digits"
    assert refused(v.parse_personal_id, "001180012345", sex="male").code == "sex_mismatch"
    assert refused(v.parse_personal_id, "001180012345", birth_year=1981).code == "year_mismatch"
    assert v.parse_personal_id("").value == ""


# -- choices ---------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "expected"), [
    ("Nam", Member.Sex.MALE), ("nam", Member.Sex.MALE), ("NAM", Member.Sex.MALE), ("M", Member.Sex.MALE),
    ("male", Member.Sex.MALE), ("Nữ", Member.Sex.FEMALE), ("nu", Member.Sex.FEMALE), ("NỮ", Member.Sex.FEMALE),
    ("F", Member.Sex.FEMALE), ("Female", Member.Sex.FEMALE), (unicodedata.normalize("NFD", "Nữ"), Member.Sex.FEMALE),
])
def test_sex(raw, expected):
    assert v.parse_sex(raw) == expected


@pytest.mark.parametrize(("raw", "expected"), [
    ("Chủ hộ", Member.Relation.HEAD), ("chu ho", Member.Relation.HEAD), ("CHỦ HỘ", Member.Relation.HEAD),
    ("Vợ/Chồng", Member.Relation.SPOUSE), ("Vợ", Member.Relation.SPOUSE), ("chồng", Member.Relation.SPOUSE),
    ("vo / chong", Member.Relation.SPOUSE),
    ("Con", Member.Relation.CHILD), ("con trai", Member.Relation.CHILD), ("Con gái", Member.Relation.CHILD),
    ("Bố/Mẹ", Member.Relation.PARENT), ("Bố", Member.Relation.PARENT), ("Mẹ", Member.Relation.PARENT),
    ("Cha", Member.Relation.PARENT),
    ("Ông/Bà", Member.Relation.GRANDPARENT), ("Ông", Member.Relation.GRANDPARENT), ("bà", Member.Relation.GRANDPARENT),
    ("Cháu", Member.Relation.GRANDCHILD), ("chau noi", Member.Relation.GRANDCHILD),
    ("Anh/Chị/Em", Member.Relation.SIBLING), ("Em", Member.Relation.SIBLING), ("anh chi em", Member.Relation.SIBLING),
    ("Khác", Member.Relation.OTHER), ("khac", Member.Relation.OTHER),
])
def test_relation(raw, expected):
    assert v.parse_relation(raw) == expected


@pytest.mark.parametrize(("raw", "expected"), [
    ("Thành thị", Household.Area.URBAN), ("thanh thi", Household.Area.URBAN), ("Nông thôn", Household.Area.RURAL),
    ("NONG THON", Household.Area.RURAL),
])
def test_area(raw, expected):
    assert v.parse_area(raw) == expected


@pytest.mark.parametrize(("raw", "expected"), [
    ("Hộ nghèo", Household.Classification.POOR), ("nghèo", Household.Classification.POOR),
    ("HO NGHEO", Household.Classification.POOR), ("Hộ cận nghèo", Household.Classification.NEAR_POOR),
    ("can ngheo", Household.Classification.NEAR_POOR),
    ("Hộ có mức sống trung bình", Household.Classification.MIDDLE),
    ("co muc song trung binh", Household.Classification.MIDDLE),
    ("Mức sống trung bình", Household.Classification.MIDDLE),
    ("Không", Household.Classification.NONE), ("khong", Household.Classification.NONE),
    ("", Household.Classification.NONE),
])
def test_classification(raw, expected):
    assert v.parse_classification(raw) == expected


@pytest.mark.parametrize(("parser", "raw", "listed"), [
    (v.parse_sex, "Khác", "Nam, Nữ"),
    (v.parse_relation, "Con dâu", "Chủ hộ, Vợ/Chồng, Con"),
    (v.parse_area, "Miền núi", "Thành thị, Nông thôn"),
    (v.parse_classification, "Hộ khá", "Hộ nghèo, Hộ cận nghèo"),
    (v.parse_sex, 1, "Nam, Nữ"),
])
def test_unknown_choices_name_the_value_and_the_choices(parser, raw, listed):
    text = message(refused(parser, raw))
    assert str(raw) in text and listed in text


# -- writing -----------------------------------------------------------------------------

def test_formatters():
    assert (v.format_yes_no(True), v.format_yes_no(False), v.format_yes_no(None)) == ("Có", "Không", "Không")
    assert v.format_date(date(1987, 3, 5)) == "05/03/1987"
    assert v.format_date(None, 1987) == "1987" and v.format_date(None, None) == ""
    assert v.format_money(1_500_000) == "1500000" and v.format_money(None) == ""
    assert v.format_sex(Member.Sex.FEMALE) == "Nữ"
    assert v.format_relation(Member.Relation.SPOUSE) == "Vợ/Chồng"
    assert v.format_area(Household.Area.RURAL) == "Nông thôn"
    assert v.format_classification(Household.Classification.MIDDLE) == "Hộ có mức sống trung bình"
    assert v.format_relation("") == ""
    with pytest.raises(ValueError):
        v.format_sex("unknown")


def test_labels_are_fixed_vietnamese_whatever_the_language():
    from django.utils import translation

    with translation.override("vi"):
        vietnamese = [v.format_relation(r) for r in Member.Relation]
    assert vietnamese == [v.format_relation(r) for r in Member.Relation]
    assert all(unicodedata.is_normalized("NFC", label) for label in vietnamese)


@pytest.mark.parametrize(("parse", "format_", "choices"), [
    (v.parse_sex, v.format_sex, Member.Sex),
    (v.parse_relation, v.format_relation, Member.Relation),
    (v.parse_area, v.format_area, Household.Area),
    (v.parse_classification, v.format_classification, Household.Classification),
])
def test_every_choice_reads_back(parse, format_, choices):
    for choice in choices:
        assert parse(format_(choice)) == choice


@given(st.booleans())
def test_yes_no_reads_back(flag):
    assert v.parse_yes_no(v.format_yes_no(flag)) is flag


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31)))
def test_dates_read_back(day):
    assert v.parse_date_or_year(v.format_date(day)) == (day, day.year)
    assert v.parse_date_or_year(v.format_date(None, day.year)) == (None, day.year)


@given(st.integers(min_value=0, max_value=v.MAX_MONEY))
def test_money_reads_back(amount):
    assert v.parse_money(v.format_money(amount)) == amount
    grouped = f"{amount:,}"
    assert v.parse_money(grouped) == amount
    assert v.parse_money(grouped.replace(",", ".")) == amount


# -- nothing but ValidationError -------------------------------------------------------

CELLS = st.one_of(
    st.text(),
    st.text(alphabet="0123456789.,-/ eE+đ", max_size=20),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.dates(),
    st.datetimes(),
)
PARSERS = [v.parse_yes_no, v.parse_date_or_year, v.parse_money, v.parse_commune_code, v.parse_personal_id,
           v.parse_sex, v.parse_relation, v.parse_area, v.parse_classification, v.parse_year]


@settings(max_examples=300, deadline=None)
@given(cell=CELLS, parser=st.sampled_from(PARSERS))
def test_parsers_return_or_raise_validation_error(cell, parser):
    try:
        parser(cell)
    except ValidationError as error:
        assert error.messages and all(text.strip() for text in error.messages)


@settings(max_examples=200, deadline=None)
@given(cell=CELLS, sex=st.sampled_from([None, "male", "female"]),
       year=st.one_of(st.none(), st.integers(min_value=1900, max_value=2100)))
def test_personal_id_returns_or_raises_validation_error(cell, sex, year):
    with contextlib.suppress(ValidationError):
        v.parse_personal_id(cell, sex=sex, birth_year=year)
