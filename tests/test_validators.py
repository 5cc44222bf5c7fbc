import pytest
from django.core.exceptions import ValidationError

from households.validators import clean_personal_id


def test_valid_twelve_digit_id_matching_sex_and_year():
    pid = clean_personal_id("010 083 012 345", sex="male", birth_year=1983)
    assert pid.value == "010083012345"
    assert pid.is_legacy is False


def test_woman_born_in_2000s_has_century_digit_3():
    assert clean_personal_id("010305000001", sex="female", birth_year=2005).value == "010305000001"


def test_old_nine_digit_id_is_accepted_and_flagged():
    pid = clean_personal_id("063123456", sex="male", birth_year=1970)
    assert pid.value == "063123456" and pid.is_legacy is True


def test_empty_id_is_allowed():
    assert clean_personal_id("").value == ""


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("01008301234", "length"),
        ("0100830123456", "length"),
        ("01008301234A", "not_digits"),
        ("1.23457E+11", "scientific"),
        ("010983012345", "century"),
    ],
)
def test_malformed_ids_are_refused_with_a_reason(raw, code):
    with pytest.raises(ValidationError) as exc:
        clean_personal_id(raw)
    assert exc.value.code == code


def test_id_of_a_woman_given_to_a_man_is_refused():
    with pytest.raises(ValidationError) as exc:
        clean_personal_id("010183012345", sex="male", birth_year=1983)
    assert exc.value.code == "sex_mismatch"


def test_id_birth_year_must_match_member_birth_year():
    with pytest.raises(ValidationError) as exc:
        clean_personal_id("010083012345", sex="male", birth_year=1984)
    assert exc.value.code == "year_mismatch"
    assert "1983" in exc.value.messages[0] and "1984" in exc.value.messages[0]


from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@given(st.text(), st.sampled_from(["male", "female", None]), st.one_of(st.none(), st.integers(1900, 2100)))
def test_any_input_gives_a_clean_id_or_a_validation_error(raw, sex, year):
    try:
        pid = clean_personal_id(raw, sex=sex, birth_year=year)
    except ValidationError:
        return
    assert pid.value == "" or (pid.value.isascii() and pid.value.isdigit() and len(pid.value) in (9, 12))


def test_digits_of_other_scripts_are_not_accepted():
    with pytest.raises(ValidationError):
        clean_personal_id("٠١٠٠٨٣٠١٢٣٤٥")
