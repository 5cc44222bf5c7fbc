import unicodedata

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from core.models import AuditEvent
from households import services
from households.models import ArchiveInsteadOfDelete, Household, Member

from .world import make_household, member


def test_new_household_gets_derived_columns_and_an_audit_trail(world):
    h = world.household
    assert h.head_name == "Giàng A Páo"
    assert h.member_count == 2
    assert h.is_ethnic_minority is True
    assert h.area == Household.Area.RURAL  # Tả Thàng is a xã
    assert "giang a pao" in h.search_text and "vang thi my" in h.search_text
    events = AuditEvent.objects.filter(household=h)
    assert events.filter(action="create", content_type__model="household").count() == 1
    assert events.filter(action="create", content_type__model="member").count() == 2
    assert all(e.actor == world.officer and e.source == "form" for e in events)


def test_household_in_urban_commune_defaults_to_urban(world):
    village = services.get_or_create_village(world.town, "Tổ dân phố 1")
    h = make_household(world.superuser, world.town, village, "Trần Văn An", ethnicity="Kinh")
    assert h.area == Household.Area.URBAN
    assert h.code == "0001"


def test_text_is_stored_in_nfc_whatever_the_input(world):
    decomposed = unicodedata.normalize("NFD", "Sùng Thị Dợ")
    h = make_household(world.officer, world.tathang, world.village, decomposed)
    stored = Member.objects.get(household=h).full_name
    assert stored == "Sùng Thị Dợ" and unicodedata.is_normalized("NFC", stored)


def test_household_needs_exactly_one_head(world):
    with pytest.raises(ValidationError) as exc:
        make_household(world.officer, world.tathang, world.village, "Giàng A Sử",
                       others=[member("Giàng A Tủa", "head", year=1990)])
    assert "exactly one head" in str(exc.value)
    assert not Household.objects.filter(head_name="Giàng A Sử").exists()  # nothing half-saved


def test_personal_id_used_in_another_household_is_refused(world):
    make_household(world.officer, world.tathang, world.village, "Thào A Chá",
                   others=[member("Thào A Lử", "child", year=2005, personal_id="010205000111")])
    with pytest.raises(ValidationError) as exc:
        make_household(world.officer, world.tathang, world.village, "Lồ A Sính",
                       others=[member("Lồ Thị Sua", "child", "female", 2005, personal_id="010205000111")])
    assert "010205000111" in str(exc.value)


def test_member_errors_name_the_field(world):
    with pytest.raises(ValidationError) as exc:
        make_household(world.officer, world.tathang, world.village, "Ma Seo Lử",
                       others=[member("Ma Thị Dung", "spouse", "female", 1899)])
    assert "birth_year" in exc.value.error_dict


def test_reviewer_cannot_write_households(world):
    with pytest.raises(PermissionDenied):
        make_household(world.reviewer, world.tathang, world.village, "Giàng Seo Phử")


def test_officer_cannot_write_in_another_commune(world):
    village = services.get_or_create_village(world.lapantan, "Thôn Lao Táo")
    with pytest.raises(PermissionDenied):
        make_household(world.officer, world.lapantan, village, "Giàng Seo Phử")


def test_change_records_before_and_after(world):
    h = world.household
    head, spouse = h.members.order_by("pk")
    rows = [
        services.MemberInput(values={**{n: getattr(head, n) for n in services.MEMBER_FIELDS},
                                     "full_name": "Giàng A Pao"}, member=head),
        services.MemberInput(values={n: getattr(spouse, n) for n in services.MEMBER_FIELDS}, member=spouse),
    ]
    saved = services.save_household(actor=world.officer, source="form", commune=h.commune,
                                    values={"village": h.village, "code": h.code, "phone": "0912345678"},
                                    members=rows, household=h, expected_version=h.version)
    assert saved.version == h.version + 1
    change = AuditEvent.objects.get(household=h, action="update", content_type__model="household")
    assert change.changes["phone"] == ["", "0912345678"]
    assert change.changes["head_name"] == ["Giàng A Páo", "Giàng A Pao"]
    member_change = AuditEvent.objects.get(household=h, action="update", content_type__model="member")
    assert member_change.changes == {"full_name": ["Giàng A Páo", "Giàng A Pao"]}


def test_save_from_an_old_copy_is_refused_and_changes_nothing(world):
    h = world.household
    rows = [services.MemberInput(values={n: getattr(m, n) for n in services.MEMBER_FIELDS}, member=m)
            for m in h.members.all()]
    values = {"village": h.village, "code": h.code}
    services.save_household(actor=world.officer, source="form", commune=h.commune,
                            values={**values, "phone": "0911111111"},
                            members=rows, household=h, expected_version=h.version)
    with pytest.raises(services.StaleEdit):
        services.save_household(actor=world.officer, source="form", commune=h.commune,
                                values={**values, "phone": "0922222222"}, members=rows, household=h,
                                expected_version=h.version)
    assert Household.objects.get(pk=h.pk).phone == "0911111111"


def test_saving_without_changes_leaves_no_event_and_keeps_the_version(world):
    h = world.household
    rows = [services.MemberInput(values={n: getattr(m, n) for n in services.MEMBER_FIELDS}, member=m)
            for m in h.members.all()]
    before = AuditEvent.objects.count()
    saved = services.save_household(actor=world.officer, source="form", commune=h.commune,
                                    values={"village": h.village, "code": h.code},
                                    members=rows, household=h, expected_version=h.version)
    assert saved.version == h.version
    assert AuditEvent.objects.count() == before


def test_member_leaving_is_archived_not_deleted(world):
    h = world.household
    head, spouse = h.members.order_by("pk")
    rows = [services.MemberInput(values={n: getattr(head, n) for n in services.MEMBER_FIELDS}, member=head),
            services.MemberInput(values={}, member=spouse, archive_reason="Chuyển đi nơi khác")]
    saved = services.save_household(actor=world.officer, source="form", commune=h.commune,
                                    values={"village": h.village, "code": h.code},
                                    members=rows, household=h, expected_version=h.version)
    spouse.refresh_from_db()
    assert spouse.is_archived and spouse.archived_reason == "Chuyển đi nơi khác"
    assert saved.member_count == 1
    assert AuditEvent.objects.filter(object_id=spouse.pk, action="archive").exists()


def test_archive_keeps_the_record_and_hard_delete_is_impossible(world):
    h = services.archive_household(actor=world.officer, household=world.household, reason="Cả hộ chuyển đi",
                                   source="form")
    assert h.is_archived and Household.objects.filter(pk=h.pk).exists()
    event = AuditEvent.objects.get(household=h, action="archive")
    assert event.reason == "Cả hộ chuyển đi" and event.actor == world.officer
    with pytest.raises(ArchiveInsteadOfDelete):
        h.delete()
    with pytest.raises(ArchiveInsteadOfDelete):
        Household.objects.filter(pk=h.pk).delete()
    with pytest.raises(ArchiveInsteadOfDelete):
        Member.objects.filter(household=h).delete()
    restored = services.restore_household(actor=world.officer, household=h, reason="Quay về", source="form")
    assert not restored.is_archived


def test_archive_needs_a_reason(world):
    with pytest.raises(ValidationError):
        services.archive_household(actor=world.officer, household=world.household, reason="  ", source="form")


def test_bulk_archive_records_one_event_per_household_and_stays_in_scope(world):
    second = make_household(world.officer, world.tathang, world.village, "Lù Seo Dìn")
    count = services.bulk_archive_households(
        actor=world.officer, households=[world.household, second, world.household_lapantan],
        reason="Rà soát lại", source="bulk",
    )
    assert count == 2  # La Pan Tẩn is outside the officer's commune
    assert AuditEvent.objects.filter(action="archive", source="bulk").count() == 2
    world.household_lapantan.refresh_from_db()
    assert not world.household_lapantan.is_archived


@pytest.mark.django_db(transaction=True)
def test_commune_summary_is_refreshed_once_the_change_commits():
    from households.models import CommuneSummary

    from .world import build_world

    world = build_world()  # every service call commits; tasks run eagerly after commit
    summary = CommuneSummary.objects.get(commune=world.tathang)
    assert (summary.households, summary.members, summary.poor) == (1, 2, 1)
    make_household(world.officer, world.tathang, world.village, "Hảng A Chu")
    services.archive_household(actor=world.officer, household=world.household, reason="Chuyển đi", source="form")
    summary.refresh_from_db()
    assert (summary.households, summary.members, summary.poor, summary.archived) == (1, 1, 0, 1)


def test_many_changes_in_one_transaction_queue_one_refresh_per_commune(world, django_capture_on_commit_callbacks):
    from django.db import transaction

    from households.models import CommuneSummary

    transaction.get_connection()._summary_flush = None  # forget what building the world queued
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        for name in ("Hảng A Chu", "Hảng A Dình", "Hảng Seo Lử"):
            make_household(world.officer, world.tathang, world.village, name)
    assert len(callbacks) == 1
    assert CommuneSummary.objects.get(commune=world.tathang).households == 4


@pytest.mark.parametrize(
    ("field", "value"),
    [("phone", "call me"), ("phone", "123"), ("code", "=HYPERLINK(1)")],
)
def test_household_values_are_checked_with_the_field_named(world, field, value):
    values = {"village": world.village, "code": "0100", field: value}
    with pytest.raises(ValidationError) as exc:
        services.save_household(actor=world.officer, source="form", commune=world.tathang, values=values,
                                members=[member("Sùng A Lử")])
    assert field in exc.value.error_dict


def test_phone_with_spaces_and_country_code_is_accepted(world):
    h = make_household(world.officer, world.tathang, world.village, "Sùng A Lử", phone="+84 912 345 678")
    assert h.phone == "+84 912 345 678"


def test_the_audit_trail_still_protects_what_it_refers_to(world, django_user_model):
    """The trail has no database constraints; the ORM still refuses to delete what it names."""
    from django.contrib.contenttypes.models import ContentType
    from django.db.models import ProtectedError

    clerk = django_user_model.objects.create_user("clerk", password="x")
    AuditEvent.objects.create(actor=clerk, source="form", action="update", object_repr="x",
                              content_type=ContentType.objects.get_for_model(Household),
                              object_id=world.household.pk, household=world.household)
    with pytest.raises(ProtectedError):
        clerk.delete()
    assert django_user_model.objects.filter(pk=clerk.pk).exists()


def test_form_service_cannot_set_a_classification_on_a_new_household(world):
    h = services.save_household(actor=world.officer, source="form", commune=world.tathang,
                                values={"village": world.village, "code": "0200", "classification": "poor",
                                        "classification_year": 2025},
                                members=[member("Sùng A Lử")])
    h.refresh_from_db()
    assert (h.classification, h.classification_year) == ("none", None)
    created = AuditEvent.objects.get(household=h, action="create", content_type__model="household")
    assert created.changes["classification"] == [None, "none"]


def test_form_service_keeps_the_classification_a_decision_recognised(world):
    h = world.household
    assert h.statuses.get().category == h.classification == "poor"
    rows = [services.MemberInput(values={n: getattr(m, n) for n in services.MEMBER_FIELDS}, member=m)
            for m in h.members.all()]
    services.save_household(actor=world.officer, source="form", commune=h.commune,
                            values={"village": h.village, "code": h.code, "phone": "0912345678",
                                    "classification": "none", "classification_year": None},
                            members=rows, household=h, expected_version=h.version)
    services.update_household_fields(actor=world.officer, household=h, source="admin",
                                      values={"classification": "near_poor", "classification_year": 2026})
    h.refresh_from_db()
    assert (h.classification, h.classification_year, h.phone) == ("poor", 2025, "0912345678")
    assert not AuditEvent.objects.filter(household=h, action="update", changes__has_key="classification").exists()
