"""The bulk load of new households (large-file path): on PostgreSQL the server builds
the rows from the parked ones; whatever the database, the result is what the
registry services would have written."""

import io
import json

from core.models import AuditEvent
from exchange import bulk
from exchange.models import ImportBatch, StagedRow
from households import services as household_services
from households.models import Household

from .test_exchange_import import household_row, member_row, run, workbook_bytes

# Names whose order differs with and without diacritics, and a phone: the search text
# sorts the members' names as Python does (by code point) and folds them.
FAMILY = [("Đỗ Văn Ấn", "Chủ hộ", "Nam", "1970"), ("Ân Thị Lý", "Vợ/Chồng", "Nữ", "03/04/1972"),
          ("An Văn Bé", "Con", "Nam", "2001"), ("Zơ Thị Út", "Con", "Nữ", "2005")]


def _file(codes, phone="0912 345 678"):
    households = [household_row(code=code, head="Đỗ Văn Ấn", **{"Số điện thoại": phone.replace(" ", "")})
                  for code in codes]
    members = [member_row(name, relation, sex, born, code=code, ethnicity="Kinh" if i % 2 else "Mông")
               for code in codes for i, (name, relation, sex, born) in enumerate(FAMILY)]
    return workbook_bytes(households, members)


def test_new_households_in_several_slices_carry_the_services_derived_values(world, monkeypatch):
    monkeypatch.setattr(bulk, "LARGE_FILE_BYTES", 0)
    monkeypatch.setattr(bulk, "HOUSEHOLDS_PER_CHUNK", 1)
    monkeypatch.setattr(bulk, "HOUSEHOLDS_PER_STATEMENT", 1)
    codes = ["B-01", "B-02", "B-03"]
    batch = run(world.officer, _file(codes))
    assert batch.status == ImportBatch.Status.DONE, list(batch.issues.values_list("message", flat=True))
    assert batch.created == 15
    for code in codes:
        household = Household.objects.get(commune=world.tathang, code=code)
        members = list(household.members.select_related("ethnicity"))
        expected = household_services.derived_values(household, members)
        assert {k: getattr(household, k) for k in expected} == expected
        assert household.head_name == "Đỗ Văn Ấn" and household.member_count == 4
        assert household.search_text.startswith("b-01 0912345678 ".replace("b-01", code.lower()))
        events = list(AuditEvent.objects.filter(household=household).order_by("id"))
        # The household's creation first, then its members' in row order, all linked to the batch.
        assert [e.object_repr for e in events] == [f"{code} – Đỗ Văn Ấn", *(name for name, *_ in FAMILY)]
        assert {e.batch for e in events} == {batch.reference}
        assert events[0].changes["commune"] == [None, str(world.tathang)]
        assert events[2].changes["birth_date"] == [None, "1972-04-03"]
        assert "birth_date" not in events[1].changes
    assert not StagedRow.objects.filter(batch=batch).exists()


def test_the_same_large_file_twice_is_unchanged_the_second_time(world, monkeypatch):
    monkeypatch.setattr(bulk, "LARGE_FILE_BYTES", 0)
    monkeypatch.setattr(bulk, "HOUSEHOLDS_PER_STATEMENT", 1)
    first = run(world.officer, _file(["C-01", "C-02"]))
    events = AuditEvent.objects.count()
    second = run(world.officer, _file(["C-01", "C-02"]))
    assert (first.created, second.created, second.updated, second.unchanged) == (10, 0, 0, 10)
    assert AuditEvent.objects.count() == events


def test_both_writers_give_the_same_audit_changes(world, monkeypatch):
    """The set-based writer (PostgreSQL) and the row writer (elsewhere, and small files)."""
    monkeypatch.setattr(bulk, "LARGE_FILE_BYTES", 0)
    run(world.officer, _file(["D-01"], phone=""))
    monkeypatch.setattr(bulk, "LARGE_FILE_BYTES", 10**12)
    run(world.officer, _file(["D-02"], phone=""))

    def trail(code):
        household = Household.objects.get(commune=world.tathang, code=code)
        return [(e.action, e.source, e.object_repr.replace(code, "~"), json.dumps(e.changes, sort_keys=True)
                 .replace(code, "~")) for e in AuditEvent.objects.filter(household=household).order_by("id")], \
            household.search_text.replace(code.lower(), "~")

    assert trail("D-01") == trail("D-02")


def test_a_members_dates_are_checked_against_the_date_the_import_read_once(world):
    from datetime import date

    import pytest
    from django.core.exceptions import ValidationError

    from households.models import Ethnicity

    values = {"full_name": "Giàng A Páo", "sex": "male", "birth_date": date(2001, 5, 1), "birth_year": 2001,
              "relation": "head", "ethnicity": Ethnicity.objects.get(name="Mông"), "personal_id": ""}
    assert household_services.clean_member_values(values, today=date(2025, 1, 1))["birth_year"] == 2001
    with pytest.raises(ValidationError) as raised:
        household_services.clean_member_values(values, today=date(2000, 1, 1))
    assert {"birth_year", "birth_date"} <= set(raised.value.message_dict)


def test_repeated_decomposed_cells_are_read_as_nfc_every_time():
    import unicodedata

    from exchange.reader import _clean

    decomposed = unicodedata.normalize("NFD", "  Thôn  Sín Chải ")
    assert [_clean(decomposed) for _ in range(3)] == ["Thôn Sín Chải"] * 3


def test_stored_and_new_households_in_one_large_file(world, monkeypatch):
    """Stored households go through the ordinary planner, new ones through the bulk load."""
    run(world.officer, _file(["E-01"]))
    monkeypatch.setattr(bulk, "LARGE_FILE_BYTES", 0)
    monkeypatch.setattr(bulk, "HOUSEHOLDS_PER_CHUNK", 1)
    monkeypatch.setattr(bulk, "HOUSEHOLDS_PER_STATEMENT", 1)
    batch = run(world.officer, _file(["E-01", "E-02", "E-03"], phone="0987654321"))
    assert batch.status == ImportBatch.Status.DONE
    assert (batch.created, batch.updated, batch.unchanged, batch.rejected) == (10, 1, 4, 0)
    stored = Household.objects.get(commune=world.tathang, code="E-01")
    assert stored.phone == "0987654321" and stored.version == 2
    assert AuditEvent.objects.filter(batch=batch.reference, household=stored).count() == 1
    assert AuditEvent.objects.filter(batch=batch.reference).count() == 11


def test_a_file_parked_before_the_search_key_existed_gets_it_filled(world):
    import importlib

    from django.apps import apps

    module = importlib.import_module("exchange.migrations.0007_stagedrow_search_key_fill")
    batch = ImportBatch.objects.create(created_by=world.officer, file="imports/x.csv", file_name="x.csv",
                                       sha256="0" * 64)
    parked = StagedRow.objects.create(batch=batch, kind="households", row=2, sort_key="02794|Đ-1", code="Đ-1",
                                      phone="0912345678")
    member = StagedRow.objects.create(batch=batch, kind="members", row=2, sort_key="02794|Đ-1", code="Đ-1")
    module.fill(apps, None)
    parked.refresh_from_db()
    member.refresh_from_db()
    assert (parked.search_key, member.search_key) == ("d-1 0912345678", "")


def _checked(user, data):
    from exchange import services

    batch = services.create_batch(user=user, upload=io.BytesIO(data), file_name="ds.xlsx")
    return services.check_batch(batch.pk)


def _imported(user, batch):
    from exchange import services

    services.confirm_batch(user=user, batch=batch, valid_rows_only=False)
    return services.import_batch(batch.pk)


def test_the_import_checks_across_rows_again_when_the_register_changed_since_the_check(world, monkeypatch):
    monkeypatch.setattr(bulk, "LARGE_FILE_BYTES", 0)
    pid = "010080002222"
    batch = _checked(world.officer, workbook_bytes([household_row(code="F-01", head="Lò Văn Một")],
                                                   [member_row("Lò Văn Một", code="F-01", pid=pid)]))
    assert batch.status == ImportBatch.Status.VALIDATED and batch.rejected == 0
    # Meanwhile another file gives the same personal ID to a member of another household.
    monkeypatch.setattr(bulk, "LARGE_FILE_BYTES", 10**12)
    other = run(world.officer, workbook_bytes([household_row(code="F-02", head="Lò Văn Hai")],
                                              [member_row("Lò Văn Hai", code="F-02", pid=pid)]))
    assert other.status == ImportBatch.Status.DONE
    monkeypatch.setattr(bulk, "LARGE_FILE_BYTES", 0)

    batch = _imported(world.officer, batch)
    assert batch.status == ImportBatch.Status.REJECTED
    taken = batch.issues.get(column="Số định danh")
    assert taken.value == pid and "F-02" in taken.message
    # Its only member refused, the household has none left: refused as well.
    assert batch.issues.filter(column="Mã hộ", value="F-01").exists()
    assert not Household.objects.filter(code="F-01").exists()


def test_the_import_trusts_the_checks_across_rows_when_the_register_is_as_it_was(world, monkeypatch):
    monkeypatch.setattr(bulk, "LARGE_FILE_BYTES", 0)
    calls = []
    original = bulk._cross_checks
    monkeypatch.setattr(bulk, "_cross_checks", lambda batch, **kw: calls.append(batch.pk) or original(batch, **kw))
    batch = _checked(world.officer, _file(["G-01", "G-02"]))
    assert calls == [batch.pk] and batch.register_fingerprint
    # Unrelated work on the register (another commune's household) changes nothing for this file.
    other = run(world.officer2, workbook_bytes(
        [household_row(code="G-09", commune="02701", village="Thôn Choản Thèn", head="Lò Văn Chín")],
        [member_row("Lò Văn Chín", code="G-09", commune="02701")]))
    assert other.status == ImportBatch.Status.DONE
    batch = _imported(world.officer, batch)
    assert batch.status == ImportBatch.Status.DONE and batch.created == 10
    assert [pk for pk in calls if pk == batch.pk] == [batch.pk]
