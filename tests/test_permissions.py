"""Who may write: the one permission module, the province administrator who changes no
household by any path, and archived households that nobody edits before restoring them."""

import io

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from core.models import AuditEvent
from core.permissions import Action, can, require
from exchange import importer
from exchange import services as exchange_services
from exchange.reader import read_tables
from households import services
from households.models import Household

from .test_exchange_import import GOOD_MEMBERS, household_row, workbook_bytes


def _rows(household):
    return [services.MemberInput(values={n: getattr(m, n) for n in services.MEMBER_FIELDS}, member=m)
            for m in household.members.filter(is_archived=False)]


def _archived(world):
    return services.archive_household(actor=world.officer, household=world.household, reason="Cả hộ chuyển đi",
                                      source="form")


# --- the module -----------------------------------------------------------------------------------

def test_can_answers_by_role_and_area(world):
    assert can(world.officer, Action.EDIT_HOUSEHOLDS, world.tathang)
    assert not can(world.officer, Action.EDIT_HOUSEHOLDS, world.lapantan)  # outside the officer's commune
    assert not can(world.reviewer, Action.EDIT_HOUSEHOLDS, world.tathang)
    assert not can(world.province_admin, Action.EDIT_HOUSEHOLDS)
    assert can(world.reviewer, Action.REVIEW_LISTS, world.tathang.pk)
    assert can(world.province_admin, Action.ALLOCATE_BUDGETS, world.yty)
    assert can(world.superuser, Action.IMPORT_HOUSEHOLDS, world.other_commune)


def test_require_says_outside_the_area_before_the_role(world):
    with pytest.raises(PermissionDenied, match="outside your area"):
        require(world.reviewer, Action.EDIT_HOUSEHOLDS, world.other_commune)
    with pytest.raises(PermissionDenied, match="may look at households but not change them"):
        require(world.reviewer, Action.EDIT_HOUSEHOLDS, world.tathang)


def test_an_inactive_officer_may_do_nothing(world):
    world.officer.is_active = False
    assert not can(world.officer, Action.EDIT_HOUSEHOLDS)
    assert not world.officer.can_edit_households


# --- province administrators change no household ---------------------------------------------------

def test_province_admin_cannot_import_households(world):
    assert not exchange_services.can_import(world.province_admin)
    assert exchange_services.can_import(world.officer)
    with pytest.raises(PermissionDenied, match="Only commune officers import households and members"):
        exchange_services.create_batch(user=world.province_admin, file_name="ds.xlsx",
                                       upload=io.BytesIO(workbook_bytes([household_row()], GOOD_MEMBERS)))


def test_province_admin_import_plan_writes_nothing(world):
    """Even a plan made for them (the command line, an old batch) is refused by the service."""
    tables = read_tables(io.BytesIO(workbook_bytes([household_row(code="0100")], GOOD_MEMBERS)), "ds.xlsx")
    plan = importer.plan_import(tables, world.province_admin)
    with pytest.raises(PermissionDenied, match="Only commune officers import"):
        importer.apply_plan(plan, world.province_admin, batch="x")
    assert not Household.objects.filter(code="0100").exists()


def test_province_admin_cannot_overwrite_a_household_by_the_service(world):
    h = world.household
    with pytest.raises(PermissionDenied):
        services.update_household_fields(actor=world.province_admin, household=h, values={"phone": "0911111111"},
                                         source="form")
    assert Household.objects.get(pk=h.pk).phone == h.phone


def test_province_admin_sees_no_import_link(world, client):
    client.force_login(world.province_admin)
    assert reverse("exchange:imports") not in client.get(reverse("home")).content.decode()
    client.force_login(world.officer)
    assert reverse("exchange:imports") in client.get(reverse("home")).content.decode()


# --- archived households -----------------------------------------------------------------------------

def test_archived_household_cannot_be_saved_through_the_service(world):
    h = _archived(world)
    with pytest.raises(ValidationError, match="restore it first"):
        services.save_household(actor=world.officer, source="form", commune=h.commune,
                                values={"village": h.village, "code": h.code, "phone": "0911111111",
                                        "classification": "poor", "classification_year": 2025},
                                members=_rows(h), household=h)
    assert Household.objects.get(pk=h.pk).phone == ""


def test_archived_household_fields_cannot_be_updated(world):
    h = _archived(world)
    with pytest.raises(ValidationError, match="restore it first"):
        services.update_household_fields(actor=world.officer, household=h, values={"phone": "0911111111"},
                                         source="admin")
    assert Household.objects.get(pk=h.pk).phone == ""


def test_archived_household_members_cannot_be_saved(world):
    h = _archived(world)
    head = h.members.get(relation="head")
    rows = [services.MemberInput(values={**{n: getattr(head, n) for n in services.MEMBER_FIELDS},
                                         "full_name": "Giàng A Pình"}, member=head)]
    with pytest.raises(ValidationError, match="restore it first"):
        services.save_members(actor=world.officer, household=h, rows=rows, source="admin")
    assert h.members.get(pk=head.pk).full_name == "Giàng A Páo"


def test_archived_household_can_be_restored_then_edited(world):
    h = _archived(world)
    h = services.restore_household(actor=world.officer, household=h, reason="Quay về", source="form")
    saved = services.update_household_fields(actor=world.officer, household=h, values={"phone": "0911111111"},
                                             source="form")
    assert saved.phone == "0911111111"


def test_admin_change_form_of_an_archived_household_is_read_only(world, client):
    h = _archived(world)
    client.force_login(world.officer)
    url = reverse("admin:households_household_change", args=[h.pk])
    page = client.get(url)
    assert page.status_code == 200
    assert not page.context["has_change_permission"]
    assert "hãy khôi phục hộ trước" in page.content.decode()  # the admin speaks Vietnamese
    events = AuditEvent.objects.count()
    response = client.post(url, {"village": h.village_id, "code": h.code, "phone": "0911111111",
                                 "classification": "poor", "classification_year": "2025",
                                 "members-TOTAL_FORMS": "0", "members-INITIAL_FORMS": "0"})
    assert response.status_code == 403
    assert Household.objects.get(pk=h.pk).phone == "" and AuditEvent.objects.count() == events


def test_admin_change_form_of_a_current_household_stays_editable(world, client):
    client.force_login(world.officer)
    page = client.get(reverse("admin:households_household_change", args=[world.household.pk]))
    assert page.context["has_change_permission"]


def test_province_admin_import_command_is_refused_with_the_reason(world, tmp_path, settings):
    from django.core.management import CommandError, call_command

    settings.MEDIA_ROOT = tmp_path
    path = tmp_path / "ds.xlsx"
    path.write_bytes(workbook_bytes([household_row()], GOOD_MEMBERS))
    with pytest.raises(CommandError, match="Only commune officers import households and members"):
        call_command("import_file", str(path), "--user", "province", "--dry-run")
    assert not Household.objects.filter(code="0100").exists()
