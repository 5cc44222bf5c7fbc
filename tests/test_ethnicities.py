import pytest

from households.models import Ethnicity
from households.reference import match_ethnicity


@pytest.mark.django_db
def test_the_54_groups_are_loaded_with_both_code_lists():
    assert Ethnicity.objects.count() == 54
    assert Ethnicity.objects.filter(is_minority=False).get().name == "Kinh"
    assert sorted(int(code) for code in Ethnicity.objects.values_list("code_1979", flat=True)) == list(range(1, 55))
    mong = Ethnicity.objects.get(name="Mông")
    assert (mong.code, mong.code_1979) == ("08", "08")
    muong = Ethnicity.objects.get(name="Mường")
    assert (muong.code, muong.code_1979) == ("04", "06")  # the two lists order groups differently


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("written", "group"),
    [("Mông", "Mông"), ("H'Mông", "Mông"), ("Hmong", "Mông"), ("mong", "Mông"), ("HMÔNG", "Mông"),
     ("Dao", "Dao"), ("Phu La", "Phù Lá"), ("kinh", "Kinh"), ("Việt", "Kinh"), ("Khơ-me", "Khmer")],
)
def test_common_spellings_resolve_to_one_group(written, group):
    assert match_ethnicity(written).name == group


@pytest.mark.django_db
@pytest.mark.parametrize("written", ["", "Martian", "Mông Cổ"])
def test_unknown_groups_are_not_guessed(written):
    assert match_ethnicity(written) is None


def test_member_without_a_known_group_is_refused(db):
    from django.core.exceptions import ValidationError

    from households.services import clean_member_values

    with pytest.raises(ValidationError) as exc:
        clean_member_values({"full_name": "Giàng A Páo", "sex": "male", "birth_year": 1980, "relation": "head",
                             "ethnicity": None, "personal_id": ""})
    assert "ethnicity" in exc.value.error_dict
