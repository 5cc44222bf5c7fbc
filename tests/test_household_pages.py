import re
import unicodedata

import pytest
from django.urls import reverse

from core.models import AuditEvent
from households.models import Ethnicity, Household

from .world import make_household


def form_data(world, household=None, members=None, **overrides):
    """A POST body for the household form, as the browser sends it."""
    mong = Ethnicity.objects.get(name="Mông").pk
    members = members if members is not None else [
        {"full_name": "Lý Seo Lùng", "sex": "male", "relation": "head", "ethnicity": mong, "birth_year": "1975"},
        {"full_name": "Sùng Thị Vá", "sex": "female", "relation": "spouse", "ethnicity": mong,
         "birth_date": "03/02/1978"},
        {"full_name": "Lý Seo Sấu", "sex": "male", "relation": "child", "ethnicity": mong, "birth_year": "2010",
         "personal_id": "010210000123"},
    ]
    data = {
        "village": world.village.pk, "code": "", "area": "", "phone": "",
        "version": household.version if household else "",
        "members-TOTAL_FORMS": str(len(members)), "members-INITIAL_FORMS": "0",
        "members-MIN_NUM_FORMS": "1", "members-MAX_NUM_FORMS": "1000",
    }
    for i, row in enumerate(members):
        for key, value in row.items():
            data[f"members-{i}-{key}"] = value
    data.update(overrides)
    return data


def test_officer_creates_a_household_with_three_members_through_the_form(world, login):
    client = login(world.officer)
    response = client.post(reverse("households:create"), form_data(world))
    h = Household.objects.get(head_name="Lý Seo Lùng")
    assert response.status_code == 302 and response["Location"] == h.get_absolute_url()
    assert h.member_count == 3 and h.commune == world.tathang and h.code == "0002"
    assert AuditEvent.objects.filter(household=h, source="form", actor=world.officer).count() == 4


def test_form_with_two_heads_is_refused_with_a_message_and_saves_nothing(world, login):
    client = login(world.officer)
    data = form_data(world, **{"members-1-relation": "head"})
    response = client.post(reverse("households:create"), data)
    assert response.status_code == 200
    assert "exactly one head" in response.content.decode() or "đúng một chủ hộ" in response.content.decode()
    assert not Household.objects.filter(head_name="Lý Seo Lùng").exists()


def test_form_error_names_the_field_in_vietnamese(world, login):
    client = login(world.officer)
    response = client.post(reverse("households:create"), form_data(world, **{"members-2-personal_id": "12345"}))
    assert response.status_code == 200
    assert response.context["formset"].forms[2].errors["personal_id"]
    assert not Household.objects.filter(head_name="Lý Seo Lùng").exists()


def test_decomposed_input_is_stored_composed(world, login):
    client = login(world.officer)
    name = unicodedata.normalize("NFD", "Lý Seo Lùng")
    data = form_data(world, **{"members-0-full_name": name})
    client.post(reverse("households:create"), data)
    h = Household.objects.get(search_text__contains="ly seo lung")
    assert h.head_name == "Lý Seo Lùng"


def test_second_officer_saving_an_old_copy_is_told_and_keeps_their_input(world, login):
    h = world.household
    members = [{"member_id": m.pk, "full_name": m.full_name, "sex": m.sex, "relation": m.relation,
                "ethnicity": m.ethnicity_id, "birth_year": m.birth_year} for m in h.members.order_by("pk")]
    client = login(world.officer)
    first = form_data(world, h, members, code=h.code, phone="0911111111", **{"members-INITIAL_FORMS": "2"})
    second = dict(first, phone="0922222222")
    assert client.post(reverse("households:edit", args=[h.pk]), first).status_code == 302
    response = client.post(reverse("households:edit", args=[h.pk]), second)
    assert response.status_code == 200
    page = response.content.decode()
    assert "0922222222" in page  # their input is still on the page
    assert response.context["form"]["version"].value() == h.version + 1
    assert Household.objects.get(pk=h.pk).phone == "0911111111"


def test_search_without_diacritics_finds_the_household(world, login):
    client = login(world.officer)
    response = client.get(reverse("households:list"), {"q": "giang a pao"})
    assert list(response.context["page"]) == [world.household]
    response = client.get(reverse("households:list"), {"q": "VÀNG thị"})  # another member, any case
    assert list(response.context["page"]) == [world.household]
    response = client.get(reverse("households:list"), {"q": "nguyen van binh"})  # other province
    assert list(response.context["page"]) == []


def test_list_filters_by_classification_and_archived(world, login):
    client = login(world.officer)
    extra = make_household(world.officer, world.tathang, world.village, "Hầu A Dế")
    page = client.get(reverse("households:list"), {"classification": "poor"}).context["page"]
    assert list(page) == [world.household]
    from households import services

    services.archive_household(actor=world.officer, household=extra, reason="Đã chuyển", source="form")
    assert list(client.get(reverse("households:list")).context["page"]) == [world.household]
    assert list(client.get(reverse("households:list"), {"archived": "yes"}).context["page"]) == [extra]


def test_reviewer_sees_households_of_every_commune_in_the_district_only(world, login):
    client = login(world.reviewer)
    page = client.get(reverse("households:list"), {"per_page": 100}).context["page"]
    assert set(page) == {world.household, world.household_lapantan}


def test_detail_shows_history_and_masks_ids_for_reviewers(world, login):
    h = make_household(world.officer, world.tathang, world.village, "Thào A Chá",
                       others=[])
    member = h.members.get()
    member.personal_id = "010083012345"
    member.save()
    officer_page = login(world.officer).get(h.get_absolute_url()).content.decode()
    assert "010083012345" in officer_page
    assert "Thào A Chá" in officer_page
    reviewer_page = login(world.reviewer).get(h.get_absolute_url()).content.decode()
    assert "010083012345" not in reviewer_page and "010•••••••45" in reviewer_page


@pytest.mark.parametrize("per_page", [25, 100])
def test_household_list_query_count_does_not_grow_with_rows(world, login, django_assert_max_num_queries, per_page):
    for i in range(120):
        Household.objects.create(commune=world.tathang, village=world.village, code=f"9{i:04d}",
                                 head_name=f"Hộ {i}", area="rural", search_text=f"ho {i}")
    client = login(world.officer)
    with django_assert_max_num_queries(10):
        response = client.get(reverse("households:list"), {"per_page": per_page})
    assert len(response.context["page"]) == per_page


def test_villages_page_lets_an_officer_add_a_village_once(world, login):
    client = login(world.officer)
    response = client.post(reverse("households:villages"), {"name": "Thôn Sín Chải"})
    assert response.status_code == 302
    response = client.post(reverse("households:villages"), {"name": "Thon Sin Chai"})
    assert response.status_code == 200 and response.context["form"].errors["name"]


def test_archive_page_needs_a_reason_then_archives(world, login):
    client = login(world.officer)
    url = reverse("households:archive", args=[world.household.pk])
    assert client.post(url, {"reason": ""}).status_code == 200
    assert client.post(url, {"reason": "Hộ đã chuyển đi nơi khác"}).status_code == 302
    world.household.refresh_from_db()
    assert world.household.is_archived


def test_reviewer_narrows_the_list_to_one_commune_and_its_villages(world, login):
    from households import summaries

    for commune in (world.tathang, world.lapantan):
        summaries.refresh_commune(commune.pk)
    client = login(world.reviewer)
    response = client.get(reverse("households:list"), {"commune": world.lapantan.pk})
    assert list(response.context["page"]) == [world.household_lapantan]
    form = response.context["form"]
    # The picker offers the communes holding households; any commune of the district is a valid filter.
    assert {pk for pk, _label in form.fields["commune"].choices if pk} == {world.tathang.pk, world.lapantan.pk}
    assert set(form.fields["commune"].queryset) == {world.tathang, world.lapantan, world.town}
    assert {v.commune for v in form.fields["village"].queryset} == {world.lapantan}
    # A commune outside the district is not a valid choice: the filter is ignored, never widened.
    response = client.get(reverse("households:list"), {"commune": world.yty.pk})
    assert world.household_yty not in list(response.context["page"])


def test_household_form_offers_no_classification_and_ignores_a_posted_one(world, login):
    h = world.household
    members = [{"member_id": m.pk, "full_name": m.full_name, "sex": m.sex, "relation": m.relation,
                "ethnicity": m.ethnicity_id, "birth_year": m.birth_year} for m in h.members.order_by("pk")]
    client = login(world.officer)
    page = client.get(reverse("households:edit", args=[h.pk]), HTTP_ACCEPT_LANGUAGE="en")
    assert "classification" not in page.context["form"].fields
    assert 'name="classification' not in page.content.decode()
    assert 'data-testid="classification-note"' in page.content.decode()
    data = form_data(world, h, members, code=h.code, phone="0911111111", classification="none",
                     classification_year="", **{"members-INITIAL_FORMS": "2"})
    assert client.post(reverse("households:edit", args=[h.pk]), data).status_code == 302
    h.refresh_from_db()
    assert (h.phone, h.classification, h.classification_year) == ("0911111111", "poor", 2025)
    client.post(reverse("households:create"), form_data(world, classification="poor", classification_year="2025"))
    assert Household.objects.get(head_name="Lý Seo Lùng").classification == "none"


def _in_page_language(page: str, message: str, **values) -> str:
    from django.utils import translation

    with translation.override(re.search(r'<html lang="([\w-]+)"', page).group(1)):
        return translation.gettext(message) % values


def test_household_page_names_the_decision_behind_the_classification(world, login):
    client = login(world.officer)
    shown = client.get(reverse("households:detail", args=[world.household.pk])).content.decode()
    status = world.household.statuses.get()
    recognised = _in_page_language(shown, "Recognised by decision %(number)s of %(date)s (%(year)s)",
                                   number="2025-06/QĐ-UBND", date="20/06/2025", year="2025")
    assert recognised in shown
    assert f'<a href="{reverse("reviews:round", args=[status.round_id])}">{recognised}</a>' in shown
    assert _in_page_language(shown, "Not recognised by any decision") not in shown
    other = make_household(world.officer, world.tathang, world.village, "Hầu A Dế")
    shown = client.get(reverse("households:detail", args=[other.pk])).content.decode()
    assert _in_page_language(shown, "Not recognised by any decision") in shown
    assert "2025-06/QĐ-UBND" not in shown
def _other_tab_adds_the_village_after_the_check(monkeypatch, commune, name):
    """The race of two tabs: the other tab's insert lands between our check and our insert."""
    from core.text import fold
    from households.models import Village

    real_filter = Village.objects.filter

    class CheckedTooEarly:
        def exists(self):
            monkeypatch.setattr(Village.objects, "filter", real_filter)
            Village.objects.create(commune=commune, name=name, search_name=fold(name))
            return False

    monkeypatch.setattr(Village.objects, "filter", lambda *args, **kwargs: CheckedTooEarly())


def test_two_tabs_adding_the_same_village_get_a_form_error_not_a_500(world, login, monkeypatch):
    from households.models import Village

    client = login(world.officer)
    _other_tab_adds_the_village_after_the_check(monkeypatch, world.tathang, "Thôn Sín Chải")
    response = client.post(reverse("households:villages"), {"name": "Thôn Sín Chải"})
    assert response.status_code == 200
    assert "Xã đã có thôn tên" in " ".join(response.context["form"].errors["name"])  # "already has a village"
    assert Village.objects.filter(commune=world.tathang, name="Thôn Sín Chải").count() == 1


def test_two_tabs_adding_the_same_village_in_the_admin_get_a_message_not_a_500(world, login, monkeypatch):
    from django.contrib.messages import get_messages

    from households.models import Village

    client = login(world.officer)
    _other_tab_adds_the_village_after_the_check(monkeypatch, world.tathang, "Thôn Sín Chải")
    response = client.post(reverse("admin:households_village_add"),
                           {"commune": world.tathang.pk, "name": "Thôn Sín Chải"})
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:households_village_changelist")
    assert [str(m) for m in get_messages(response.wsgi_request)] == ["Xã đã có thôn tên “Thôn Sín Chải”."]
    assert Village.objects.filter(commune=world.tathang, name="Thôn Sín Chải").count() == 1


def test_the_admin_refuses_a_village_name_the_service_refuses(world, login):
    from households.models import Village

    client = login(world.officer)
    response = client.post(reverse("admin:households_village_add"), {"commune": world.tathang.pk, "name": "-Sín"})
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["name"] == ["Tên thôn phải bắt đầu bằng một chữ cái hoặc chữ số."]
    assert not Village.objects.filter(commune=world.tathang, name="-Sín").exists()


def test_adding_a_village_is_audited(world, login):
    from core.models import AuditEvent
    from households.models import Village

    client = login(world.officer)
    client.post(reverse("households:villages"), {"name": "Thôn Sín Chải"})
    village = Village.objects.get(commune=world.tathang, name="Thôn Sín Chải")
    event = AuditEvent.objects.get(content_type__model="village", object_id=village.pk)
    assert event.actor == world.officer and event.action == "create" and event.source == "form"
    assert event.changes["name"] == [None, "Thôn Sín Chải"]
