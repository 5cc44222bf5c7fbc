"""Personal data: whole personal IDs only for the people who keep the register (masked
everywhere else, the admin included), no answer to "where is this ID registered" outside
the user's area, and a log of every read of whole IDs and every export or download."""

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.urls import reverse

from core.models import AuditEvent, PersonalDataAccess
from exchange.models import ImportBatch
from households import services
from households.models import Member

from .test_exchange_import import household_row, member_row, run, workbook_bytes
from .world import member

HEAD_ID = "010080001234"  # a man born in 1980, as the world's heads are
MASKED_HEAD_ID = "010•••••••34"
OUTSIDE_ID = "010080005678"


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def give_id(household, personal_id):
    """Give the head of `household` a personal ID through the service (as a superuser)."""
    from core.models import User

    head = household.members.get(relation="head")
    values = {name: getattr(head, name) for name in services.MEMBER_FIELDS}
    values["personal_id"] = personal_id
    services.save_members(actor=User.objects.get(is_superuser=True), household=household,
                          source=AuditEvent.Source.FORM, rows=[services.MemberInput(values=values, member=head)])
    head.refresh_from_db()
    return head


def new_household_with(world, personal_id):
    """The officer of Tả Thàng saves a new household whose head has `personal_id`."""
    return services.save_household(
        actor=world.officer, source=AuditEvent.Source.FORM, commune=world.tathang,
        values={"village": world.village, "code": "0099", "classification": "none"},
        members=[member("Lầu A Chứ", personal_id=personal_id)],
    )


# --- 8. no oracle: a personal ID held outside the user's area ----------------------------------

def test_household_form_does_not_name_a_household_outside_the_officers_area(world):
    give_id(world.household_lapantan, OUTSIDE_ID)
    with pytest.raises(ValidationError) as refused:
        new_household_with(world, OUTSIDE_ID)
    assert refused.value.messages == [
        f"The personal ID {OUTSIDE_ID} is already registered in another household; the province must resolve it."]


def test_household_form_names_the_household_inside_the_officers_area(world):
    give_id(world.household, HEAD_ID)
    with pytest.raises(ValidationError) as refused:
        new_household_with(world, HEAD_ID)
    assert refused.value.messages == [
        f"The personal ID {HEAD_ID} already belongs to a member of household 0001 of commune 02794."]


@pytest.mark.parametrize("large", [False, True], ids=["small-file path", "large-file path"])
def test_import_does_not_name_a_household_outside_the_importers_area(world, monkeypatch, large):
    from exchange import bulk

    if large:
        monkeypatch.setattr(bulk, "LARGE_FILE_BYTES", 0)
    give_id(world.household_outside, OUTSIDE_ID)
    batch = run(world.officer, workbook_bytes([household_row(code="0100", head="Lầu A Chứ")],
                                              [member_row("Lầu A Chứ", pid=OUTSIDE_ID)]))
    assert batch.status == ImportBatch.Status.VALIDATED and batch.rejected
    issue = batch.issues.get(column="Số định danh")
    assert issue.message == (f"The personal ID {OUTSIDE_ID} is already registered in another household; "
                             "the province must resolve it.")
    assert "04480" not in issue.message


@pytest.mark.parametrize("large", [False, True], ids=["small-file path", "large-file path"])
def test_import_names_the_household_and_commune_holding_an_id_inside_the_area(world, monkeypatch, large):
    # Province administrators import nothing (core.permissions); an officer is told where inside their commune.
    from exchange import bulk

    if large:
        monkeypatch.setattr(bulk, "LARGE_FILE_BYTES", 0)
    give_id(world.household, OUTSIDE_ID)
    batch = run(world.officer, workbook_bytes([household_row(code="0100", head="Lầu A Chứ")],
                                              [member_row("Lầu A Chứ", pid=OUTSIDE_ID)]))
    issue = batch.issues.get(column="Số định danh")
    assert issue.message == (f"The personal ID {OUTSIDE_ID} already belongs to a member of household 0001 "
                             "of commune 02794.")


def test_province_admin_finds_where_an_id_is_registered_by_searching_the_whole_id(world, client):
    holder = give_id(world.household_lapantan, OUTSIDE_ID)
    give_id(world.household_outside, HEAD_ID)
    client.force_login(world.province_admin)
    changelist = reverse("admin:households_member_changelist")
    assert list(client.get(changelist, {"q": OUTSIDE_ID}).context["cl"].result_list) == [holder]
    # Part of an ID finds nothing: the masked digits cannot be read back by trying.
    assert list(client.get(changelist, {"q": OUTSIDE_ID[:8]}).context["cl"].result_list) == []
    # An ID held outside the province is not found either: the search stays in the area.
    assert list(client.get(changelist, {"q": HEAD_ID}).context["cl"].result_list) == []
    searches = PersonalDataAccess.objects.filter(kind=PersonalDataAccess.Kind.ID_SEARCH).order_by("id")
    assert [(e.user, e.count) for e in searches] == [(world.province_admin, 1), (world.province_admin, 0)]


# --- 7. masked in the admin for reviewers and province administrators --------------------------

@pytest.mark.parametrize("role", ["reviewer", "province_admin"])
def test_member_admin_page_masks_the_personal_id_for_role_and_not_for_the_officer(world, client, role):
    head = give_id(world.household, HEAD_ID)
    url = reverse("admin:households_member_change", args=[head.pk])
    client.force_login(getattr(world, role))
    body = client.get(url).content.decode()
    assert HEAD_ID not in body and MASKED_HEAD_ID in body
    client.force_login(world.officer)
    assert HEAD_ID in client.get(url).content.decode()


def test_member_admin_list_masks_personal_ids_for_everyone(world, client):
    give_id(world.household, HEAD_ID)
    client.force_login(world.officer)
    body = client.get(reverse("admin:households_member_changelist")).content.decode()
    assert HEAD_ID not in body and MASKED_HEAD_ID in body


@pytest.mark.parametrize("role", ["reviewer", "province_admin"])
def test_household_admin_member_inline_masks_the_personal_id_for_role(world, client, role):
    give_id(world.household, HEAD_ID)
    client.force_login(getattr(world, role))
    body = client.get(reverse("admin:households_household_change", args=[world.household.pk])).content.decode()
    assert HEAD_ID not in body and MASKED_HEAD_ID in body


@pytest.mark.parametrize("role", ["reviewer", "province_admin"])
def test_audit_event_admin_masks_personal_ids_before_and_after_for_role(world, client, role):
    head = give_id(world.household, HEAD_ID)
    event = AuditEvent.objects.get(content_type=ContentType.objects.get_for_model(Member), object_id=head.pk,
                                   action=AuditEvent.Action.UPDATE)
    assert event.changes["personal_id"] == ["", HEAD_ID]
    client.force_login(getattr(world, role))
    body = client.get(reverse("admin:core_auditevent_change", args=[event.pk])).content.decode()
    assert HEAD_ID not in body and MASKED_HEAD_ID in body


# --- 9. the access log -----------------------------------------------------------------------

def test_viewing_a_household_page_with_whole_ids_logs_one_entry(world, client):
    give_id(world.household, HEAD_ID)
    # A reviewer sees the IDs masked: nothing to log.
    client.force_login(world.reviewer)
    assert client.get(world.household.get_absolute_url()).status_code == 200
    client.force_login(world.officer)
    assert client.get(world.household.get_absolute_url()).status_code == 200
    entry = PersonalDataAccess.objects.get()
    assert (entry.user, entry.kind, entry.household, entry.unit, entry.count, entry.whole_ids) == (
        world.officer, PersonalDataAccess.Kind.HOUSEHOLD_PAGE, world.household, world.tathang, 1, True)
    assert entry.path == world.household.get_absolute_url()


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_an_export_of_members_logs_its_kind_and_count(world, client, fmt):
    give_id(world.household, HEAD_ID)
    client.force_login(world.officer)
    response = client.get(reverse("exchange:export"), {"kind": "members", "format": fmt})
    assert response.status_code == 200
    b"".join(response.streaming_content)  # a streamed file is logged once it has been sent
    entry = PersonalDataAccess.objects.get()
    assert (entry.user, entry.kind, entry.count, entry.whole_ids, entry.unit) == (
        world.officer, PersonalDataAccess.Kind.EXPORT_MEMBERS, 2, True, world.tathang)


def test_an_admin_export_of_households_logs_its_count(world, client):
    client.force_login(world.province_admin)
    response = client.post(reverse("admin:households_household_export"), {"format": "0", "resource": "0"})
    assert response.status_code == 200, response.content[:500]
    entry = PersonalDataAccess.objects.get()
    assert (entry.kind, entry.count, entry.unit) == (PersonalDataAccess.Kind.ADMIN_EXPORT, 3, world.province)


def _entries(world):
    """One read logged in each of three places: Tả Thàng (by its officer), Y Tý (by its officer),
    and another province (by the superuser)."""
    kind = PersonalDataAccess.Kind.HOUSEHOLD_PAGE
    return {
        "tathang": PersonalDataAccess.objects.create(user=world.officer, kind=kind, unit=world.tathang),
        "yty": PersonalDataAccess.objects.create(user=world.officer2, kind=kind, unit=world.yty),
        "outside": PersonalDataAccess.objects.create(user=world.superuser, kind=kind, unit=world.other_commune),
    }


@pytest.mark.parametrize(("role", "seen"), [
    ("superuser", {"tathang", "yty", "outside"}),
    ("province_admin", {"tathang", "yty"}),
    ("reviewer", {"tathang"}),
    ("officer", {"tathang"}),
    ("officer2", {"yty"}),
])
def test_the_access_log_in_the_admin_is_scoped_for_role(world, client, role, seen):
    entries = _entries(world)
    client.force_login(getattr(world, role))
    page = client.get(reverse("admin:core_personaldataaccess_changelist"))
    assert page.status_code == 200
    shown = set(page.context["cl"].result_list.values_list("pk", flat=True))
    assert shown == {entries[name].pk for name in seen}


def test_a_reviewer_cannot_open_a_log_entry_outside_their_unit(world, client):
    entries = _entries(world)
    client.force_login(world.reviewer)
    assert client.get(reverse("admin:core_personaldataaccess_change", args=[entries["yty"].pk])).status_code == 404


def test_an_officer_sees_only_their_own_reads_even_in_their_commune(world, client):
    other = PersonalDataAccess.objects.create(user=world.superuser, kind=PersonalDataAccess.Kind.HOUSEHOLD_PAGE,
                                              unit=world.tathang)
    client.force_login(world.officer)
    page = client.get(reverse("admin:core_personaldataaccess_changelist"))
    assert other.pk not in {e.pk for e in page.context["cl"].result_list}


def test_admin_household_form_refuses_an_id_held_outside_without_naming_the_household(world, client):
    give_id(world.household_lapantan, OUTSIDE_ID)
    client.force_login(world.officer)
    client.cookies["django_language"] = "en"
    h = world.household
    members = list(h.members.order_by("pk"))
    data = {
        "village": h.village_id, "code": h.code, "area": h.area, "classification": "poor",
        "classification_year": "2025", "expected_version": h.version,
        "members-TOTAL_FORMS": str(len(members)), "members-INITIAL_FORMS": str(len(members)),
        "members-MIN_NUM_FORMS": "0", "members-MAX_NUM_FORMS": "1000",
    }
    for i, m in enumerate(members):
        data.update({
            f"members-{i}-id": m.pk, f"members-{i}-household": h.pk, f"members-{i}-full_name": m.full_name,
            f"members-{i}-sex": m.sex, f"members-{i}-birth_year": m.birth_year,
            f"members-{i}-personal_id": OUTSIDE_ID if m.relation == "head" else "",
            f"members-{i}-ethnicity": m.ethnicity_id, f"members-{i}-relation": m.relation,
        })
    response = client.post(reverse("admin:households_household_change", args=[h.pk]), data)
    assert response.status_code == 200
    body = response.content.decode()
    assert "is already registered in another household; the province must resolve it." in body
    assert "02791" not in body
    assert not h.members.filter(personal_id=OUTSIDE_ID).exists()


def test_downloading_an_imports_rejected_rows_logs_their_count(world, client):
    batch = run(world.officer, workbook_bytes([household_row(code="0100", head="Lầu A Chứ")],
                                              [member_row("Lầu A Chứ", pid="12345")]))
    assert batch.rejected
    client.force_login(world.officer)
    response = client.get(reverse("exchange:rejected", args=[batch.pk]))
    assert response.status_code == 200
    b"".join(response.streaming_content)
    entry = PersonalDataAccess.objects.get()
    assert (entry.user, entry.kind, entry.count) == (world.officer, PersonalDataAccess.Kind.REJECTED_ROWS,
                                                     batch.rejected)



def test_downloading_an_uploaded_import_file_logs_it(world, client):
    batch = run(world.officer, workbook_bytes([household_row(code="0100", head="Lầu A Chứ")],
                                              [member_row("Lầu A Chứ", pid="12345")]))
    client.force_login(world.officer)
    response = client.get(reverse("exchange:file", args=[batch.pk]))
    assert response.status_code == 200
    b"".join(response.streaming_content)
    entry = PersonalDataAccess.objects.get()
    assert (entry.user, entry.kind, entry.detail) == (world.officer, PersonalDataAccess.Kind.IMPORT_FILE,
                                                      batch.file_name)

@pytest.fixture
def da5(world):
    """The housing program, and Tả Thàng's household officially poor last year (so eligible)."""
    from django.utils import timezone

    from programs.catalog import load_programs
    from programs.models import Program

    from .review_world import decided_year

    load_programs(Program)
    decided_year(world.officer, world.reviewer, world.household, timezone.localdate().year - 1)
    return Program.objects.get(code="DA5", province__isnull=True)


def test_exporting_a_programs_eligible_households_logs_their_count(world, client, da5):
    client.force_login(world.officer)
    response = client.get(reverse("programs:program_export", args=[da5.pk]), {"format": "csv"})
    rows = response.content.decode("utf-8-sig").strip().splitlines()[1:]
    entry = PersonalDataAccess.objects.get()
    assert (entry.kind, entry.count, entry.detail) == (PersonalDataAccess.Kind.ELIGIBLE_LIST, len(rows), "DA5")
    assert entry.count > 0
