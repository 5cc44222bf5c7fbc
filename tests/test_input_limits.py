"""Bad or outsized input gets a message: crafted cursors and numbers, long searches, too many
rows, a form without its version, a duplicate code or personal ID in the admin."""

import pytest
from django.conf import settings
from django.contrib.messages import get_messages
from django.urls import reverse

from core.models import AuditEvent
from core.pagination import decode_cursor, encode_cursor
from core.text import SEARCH_MAX_WORDS, search_terms
from households.forms import MAX_MEMBERS
from households.models import Household, Member

from .world import member


@pytest.fixture
def login(login):
    """Signed in, with pages in English (the messages are checked in their English wording)."""

    def _login(user):
        client = login(user)
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
        return client

    return _login


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


# --- addresses ----------------------------------------------------------------------------------

@pytest.mark.parametrize("values", [[2**64, "0001"], [-(2**70), "x"], ["a", 1], [1, 2]])
def test_a_cursor_with_a_huge_number_or_the_wrong_types_decodes_to_nothing(values):
    assert decode_cursor(encode_cursor(values), 2, (int, str)) is None


@pytest.mark.parametrize("cursor", [encode_cursor([2**64, "0001"]), encode_cursor(["a", 1]), "garbage"])
def test_a_crafted_cursor_shows_the_first_page_and_says_so(world, login, cursor):
    client = login(world.officer)
    response = client.get(reverse("households:list"), {"after": cursor})
    assert response.status_code == 200
    assert response.context["page"].number == 1
    assert list(response.context["page"]) == [world.household]
    assert any("first page" in m for m in _messages(response))


def test_a_huge_commune_number_in_the_household_filter_is_no_error(world, login):
    client = login(world.reviewer)
    response = client.get(reverse("households:list"), {"commune": "99999999999999999999", "village": "-1"})
    assert response.status_code == 200
    assert response.context["form"].errors


def test_a_huge_number_in_an_address_is_not_found(world, login):
    client = login(world.officer)
    assert client.get("/households/99999999999999999999/").status_code == 404
    survey_url = reverse("reviews:survey", kwargs={"round_pk": 99999999999999999999, "pk": 1})
    assert client.get(survey_url).status_code == 404


def test_an_admin_export_with_an_unknown_filter_goes_back_to_the_list_with_a_message(world, login):
    client = login(world.officer)
    response = client.get(reverse("admin:households_household_export"), {"kind": "nope"})
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:households_household_changelist")
    assert any("filter" in m for m in _messages(response))


# --- searches -------------------------------------------------------------------------------------

def test_search_terms_are_capped_in_words_and_length():
    assert len(search_terms(" ".join(f"w{i}" for i in range(20_000)))) == SEARCH_MAX_WORDS
    assert search_terms("a" * 5000) == ["a" * 200]
    assert search_terms("Giàng giang A Páo") == ["giang", "a", "pao"]


def test_a_20000_word_search_is_cut_with_a_message(world, login, django_assert_max_num_queries):
    client = login(world.officer)
    with django_assert_max_num_queries(20):
        response = client.get(reverse("households:list"), {"q": "giang " * 20_000})
    assert response.status_code == 200
    assert list(response.context["page"]) == [world.household]
    assert any("at most 10 words" in m for m in _messages(response))


def test_a_long_admin_search_is_cut_with_a_message(world, login):
    client = login(world.officer)
    response = client.get(reverse("admin:households_member_changelist"), {"q": "vang " * 5000})
    assert response.status_code == 200
    assert any("at most 10 words" in m for m in _messages(response))
    response = client.get(reverse("admin:reviews_survey_changelist"), {"q": "x " * 5000})
    assert response.status_code == 200
    assert any("at most 10 words" in m for m in _messages(response))


# --- forms with many rows -------------------------------------------------------------------------

def _household_post(household, rows: int, *, version=True, claimed=None) -> dict:
    data = {"village": household.village_id, "code": household.code, "area": household.area, "phone": "",
            "classification": household.classification,
            "classification_year": household.classification_year or "",
            "members-TOTAL_FORMS": str(claimed or rows), "members-INITIAL_FORMS": "0",
            "members-MIN_NUM_FORMS": "1", "members-MAX_NUM_FORMS": "1000"}
    if version:
        data["version"] = household.version
    existing = list(household.members.order_by("pk"))
    for i in range(rows):
        m = existing[i] if i < len(existing) else None
        data.update({
            f"members-{i}-member_id": m.pk if m else "", f"members-{i}-full_name": m.full_name if m else f"Lò Văn {i}",
            f"members-{i}-sex": "male", f"members-{i}-birth_year": "1990", f"members-{i}-personal_id": "",
            f"members-{i}-ethnicity": existing[0].ethnicity_id,
            f"members-{i}-relation": "head" if i == 0 else "child",
        })
    return data


def test_a_household_form_with_too_many_members_is_refused_quickly(world, login, django_assert_max_num_queries):
    client = login(world.officer)
    household = world.household
    # 100 rows sent (Django refuses a post of more than 1,000 fields outright), 5,000 claimed.
    data = _household_post(household, 100, claimed=5000)
    with django_assert_max_num_queries(MAX_MEMBERS * 3 + 40):
        response = client.post(reverse("households:edit", args=[household.pk]), data)
    assert response.status_code == 200
    assert f"at most {MAX_MEMBERS} members" in " ".join(response.context["formset"].non_form_errors())
    assert household.members.count() == 2


def test_a_household_form_with_the_most_members_allowed_saves(world, login):
    client = login(world.officer)
    household = world.household
    response = client.post(reverse("households:edit", args=[household.pk]), _household_post(household, MAX_MEMBERS))
    assert response.status_code == 302, response.context["formset"].non_form_errors()
    assert household.members.filter(is_archived=False).count() == MAX_MEMBERS


def test_the_admin_members_rows_are_capped(world, login):
    client = login(world.officer)
    h = world.household
    data = {"village": h.village_id, "code": h.code, "area": h.area, "classification": "poor",
            "classification_year": "2025", "expected_version": h.version,
            "members-TOTAL_FORMS": "3000", "members-INITIAL_FORMS": "0", "members-MIN_NUM_FORMS": "0",
            "members-MAX_NUM_FORMS": "1000"}
    response = client.post(reverse("admin:households_household_change", args=[h.pk]), data)
    assert response.status_code == 200
    assert f"at most {MAX_MEMBERS} members" in response.content.decode()
    assert Household.objects.get(pk=h.pk).version == h.version


def test_a_return_with_an_outsized_comment_is_refused(world, login):
    from reviews import services as review_services

    from .review_world import review_commune

    review = review_commune(world.officer, world.household)
    review_services.resolve_complaint(actor=world.officer, complaint=review.complaint,
                                      recheck_on=review.complaint.received_on, findings="Đã kiểm tra",
                                      outcome="dismissed")
    review_services.submit_round(actor=world.officer, round_=review.round)
    client = login(world.reviewer)
    data = {"comment": "x" * 100_000, f"note_{review.survey.pk}": "y" * 100_000}
    response = client.post(reverse("reviews:round_return", args=[review.round.pk]), data)
    assert response.status_code == 200
    assert set(response.context["form"].errors) == {"comment", f"note_{review.survey.pk}"}
    review.round.refresh_from_db()
    assert review.round.status == "submitted"


def test_adding_too_many_households_by_hand_is_refused(world, login):
    from .review_world import review_commune

    review = review_commune(world.officer, world.household)
    client = login(world.officer)
    codes = " ".join(f"{i:05d}" for i in range(50_000))
    response = client.post(reverse("reviews:round_add", args=[review.round.pk]), {"codes": codes})
    assert response.status_code == 200
    assert "at most 200 households" in " ".join(response.context["form"].errors["codes"])


# --- the version of the record a form was opened at -----------------------------------------------

def test_a_household_edit_without_its_version_is_refused(world, login):
    client = login(world.officer)
    household = world.household
    data = _household_post(household, 2, version=False)
    data["phone"] = "0977000111"
    response = client.post(reverse("households:edit", args=[household.pk]), data)
    assert response.status_code == 200
    assert "without the version" in " ".join(response.context["form"].non_field_errors())
    household.refresh_from_db()
    assert household.phone == "" and household.version == 1


def test_a_new_household_needs_no_version(world, login):
    client = login(world.officer)
    data = _household_post(world.household, 1, version=False)
    data.update({"code": "", "members-0-member_id": "", "members-0-full_name": "Lò Thị Hoa",
                 "members-0-sex": "female"})
    response = client.post(reverse("households:create"), data)
    assert response.status_code == 302
    assert Household.objects.filter(commune=world.tathang).count() == 2


def test_an_admin_household_change_without_its_version_is_refused(world, login):
    client = login(world.officer)
    h = world.household
    data = _admin_post(h)
    del data["expected_version"]
    data["phone"] = "0977000111"
    response = client.post(reverse("admin:households_household_change", args=[h.pk]), data)
    assert response.status_code == 200
    assert "without the version" in response.content.decode()
    assert Household.objects.get(pk=h.pk).phone == ""


def test_a_survey_saved_without_its_version_is_refused(world, login):
    from .review_world import review_commune

    review = review_commune(world.officer, world.household)
    survey = review.survey
    client = login(world.officer)
    url = reverse("reviews:survey", kwargs={"round_pk": review.round.pk, "pk": survey.pk})
    response = client.post(url, {"income": "5000000", "score_a": "", "demographic_change": ""})
    assert response.status_code == 200
    assert "without the version" in " ".join(response.context["form"].non_field_errors())
    survey.refresh_from_db()
    assert survey.income == 1_000_000


# --- the admin's save path --------------------------------------------------------------------------

def _admin_post(h, **changes) -> dict:
    members = list(h.members.order_by("pk"))
    data = {"village": h.village_id, "code": h.code, "area": h.area, "phone": "", "classification": "poor",
            "classification_year": "2025", "expected_version": h.version,
            "members-TOTAL_FORMS": str(len(members)), "members-INITIAL_FORMS": str(len(members)),
            "members-MIN_NUM_FORMS": "0", "members-MAX_NUM_FORMS": "1000"}
    for i, m in enumerate(members):
        data.update({
            f"members-{i}-id": m.pk, f"members-{i}-household": h.pk, f"members-{i}-full_name": m.full_name,
            f"members-{i}-sex": m.sex, f"members-{i}-birth_year": m.birth_year,
            f"members-{i}-personal_id": m.personal_id, f"members-{i}-ethnicity": m.ethnicity_id,
            f"members-{i}-relation": m.relation, f"members-{i}-has_health_insurance": "on",
        })
    data.update(changes)
    return data


def test_an_admin_change_to_a_code_the_commune_has_is_a_form_error(world, login):
    from households import services

    from .world import make_household

    other = make_household(world.officer, world.tathang, world.village, "Lý Seo Dín", code="0002")
    client = login(world.officer)
    events = AuditEvent.objects.count()
    response = client.post(reverse("admin:households_household_change", args=[world.household.pk]),
                           _admin_post(world.household, code=other.code))
    assert response.status_code == 200
    assert "already has a household with code 0002" in response.content.decode()
    assert Household.objects.get(pk=world.household.pk).code == "0001"
    assert AuditEvent.objects.count() == events
    assert services  # the service's own check stays the last word (a race)


def test_an_admin_new_household_with_a_taken_code_is_a_form_error(world, login):
    client = login(world.officer)
    data = _admin_post(world.household, commune=world.tathang.pk)
    for key in [k for k in data if k.startswith("members-")]:
        del data[key]
    data.update({"members-TOTAL_FORMS": "1", "members-INITIAL_FORMS": "0", "members-MIN_NUM_FORMS": "0",
                 "members-MAX_NUM_FORMS": "1000", "members-0-full_name": "Lò Văn Sáng", "members-0-sex": "male",
                 "members-0-birth_year": "1980", "members-0-personal_id": "",
                 "members-0-ethnicity": world.household.members.first().ethnicity_id,
                 "members-0-relation": "head"})
    del data["expected_version"]
    response = client.post(reverse("admin:households_household_add"), data)
    assert response.status_code == 200
    assert "already has a household with code 0001" in response.content.decode()
    assert Household.objects.filter(commune=world.tathang).count() == 1


def test_an_admin_member_with_a_personal_id_of_another_household_is_a_form_error(world, login):
    from .world import make_household

    pid = "010080001234"  # province 010, a man born in 1980
    make_household(world.officer, world.tathang, world.village, "Lý Seo Dín", code="0002",
                   others=[member("Lý Văn Tả", "child", year=1980, personal_id=pid)])
    client = login(world.officer)
    response = client.post(reverse("admin:households_household_change", args=[world.household.pk]),
                           _admin_post(world.household, **{"members-0-personal_id": pid}))
    assert response.status_code == 200
    assert f"The personal ID {pid} already belongs" in response.content.decode()
    assert not Member.objects.filter(household=world.household, personal_id=pid).exists()


# --- the error pages say why ------------------------------------------------------------------------

def test_a_role_without_the_right_answers_403_with_the_reason(world, login):
    client = login(world.reviewer)
    response = client.get(reverse("households:edit", args=[world.household.pk]))
    assert response.status_code == 403
    assert "Your role may look at households but not change them." in response.content.decode()


def test_a_post_of_too_many_fields_answers_400_with_the_applications_page(world, login):
    client = login(world.officer)
    data = {f"members-{i}-full_name": "x" for i in range(1500)}
    response = client.post(reverse("households:edit", args=[world.household.pk]), data)
    assert response.status_code == 400
    assert 'data-testid="error-page"' in response.content.decode()
