"""The life of an import batch: a failure anywhere is recorded and undone, a run left
by a dead worker is reclaimed, a failed batch can be run again or cancelled, the
check is exclusive and starts from a clean slate, and every task says how it is retried."""

import io
import threading
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import DataError, close_old_connections, connection
from django.urls import reverse
from django.utils import timezone

from core.models import AuditEvent
from exchange import importer, services, tasks
from exchange.models import ImportBatch, StagedRow
from households.models import Household, Member

from .test_exchange_import import GOOD_MEMBERS, household_row, workbook_bytes


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def checked(user, data: bytes) -> ImportBatch:
    batch = services.create_batch(user=user, upload=io.BytesIO(data), file_name="ds.xlsx")
    return services.check_batch(batch.pk)


def good_file() -> bytes:
    return workbook_bytes([household_row()], GOOD_MEMBERS)


def failing_write(monkeypatch):
    """The write goes through, then the database refuses a value (as PostgreSQL does a 300-character name)."""
    original = importer.apply_plan

    def write_then_fail(*args, **kwargs):
        original(*args, **kwargs)
        raise DataError("value too long for type character varying(255)")

    monkeypatch.setattr(importer, "apply_plan", write_then_fail)


def snapshot():
    return Household.objects.count(), Member.objects.count(), AuditEvent.objects.count()


# -- a failure while importing ----------------------------------------------------------------

def test_an_import_whose_write_fails_is_marked_failed_with_its_reason_and_nothing_is_written(world, monkeypatch):
    batch = checked(world.officer, good_file())
    before = snapshot()
    failing_write(monkeypatch)
    services.confirm_batch(user=world.officer, batch=batch, valid_rows_only=False)
    batch = services.import_batch(batch.pk)
    assert batch.status == ImportBatch.Status.FAILED
    assert "does not fit the register" in batch.error and batch.finished_at is not None
    assert snapshot() == before  # the households written before the failure were undone


def test_confirming_an_import_whose_write_fails_answers_a_page_not_a_500(world, monkeypatch, login,
                                                                        django_capture_on_commit_callbacks):
    batch = checked(world.officer, good_file())
    failing_write(monkeypatch)
    client = login(world.officer)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    with django_capture_on_commit_callbacks(execute=True):  # the task runs at once, as without a broker
        response = client.post(reverse("exchange:confirm", args=[batch.pk]))
    assert response.status_code == 302 and response.url == batch.get_absolute_url()
    batch.refresh_from_db()
    assert batch.status == ImportBatch.Status.FAILED
    page = client.get(batch.get_absolute_url())
    assert "does not fit the register" in page.content.decode() and "Run the import again" in page.content.decode()


def test_a_failed_import_can_be_run_again(world, monkeypatch):
    batch = checked(world.officer, good_file())
    failing_write(monkeypatch)
    services.confirm_batch(user=world.officer, batch=batch, valid_rows_only=False)
    services.import_batch(batch.pk)
    monkeypatch.undo()
    services.confirm_batch(user=world.officer, batch=ImportBatch.objects.get(pk=batch.pk), valid_rows_only=False)
    batch = services.import_batch(batch.pk)
    assert batch.status == ImportBatch.Status.DONE and batch.error == ""
    assert Household.objects.filter(commune=world.tathang, code="0100").exists()


def test_a_failed_import_can_be_cancelled(world, monkeypatch):
    batch = checked(world.officer, good_file())
    failing_write(monkeypatch)
    services.confirm_batch(user=world.officer, batch=batch, valid_rows_only=False)
    services.import_batch(batch.pk)
    batch = services.cancel_batch(user=world.officer, batch=ImportBatch.objects.get(pk=batch.pk))
    assert batch.status == ImportBatch.Status.CANCELLED


def test_a_check_that_fails_is_marked_failed_and_can_be_checked_again(world, monkeypatch,
                                                                      django_capture_on_commit_callbacks):
    def broken(*args, **kwargs):
        raise RuntimeError("disk error")

    monkeypatch.setattr(importer, "plan_import", broken)
    batch = checked(world.officer, good_file())
    assert batch.status == ImportBatch.Status.FAILED and "unexpected error" in batch.error
    monkeypatch.undo()
    with django_capture_on_commit_callbacks(execute=True):  # the check runs at once, as without a broker
        services.recheck_batch(user=world.officer, batch=batch)
    batch.refresh_from_db()
    assert batch.status == ImportBatch.Status.VALIDATED and (batch.created, batch.rejected) == (4, 0)


# -- runs left by a worker that died -------------------------------------------------------------

def left_running(world, minutes_ago: int, status=ImportBatch.Status.RUNNING) -> ImportBatch:
    batch = checked(world.officer, good_file())
    then = timezone.now() - timedelta(minutes=minutes_ago)
    ImportBatch.objects.filter(pk=batch.pk).update(status=status, started_at=then, heartbeat_at=then)
    return ImportBatch.objects.get(pk=batch.pk)


@pytest.mark.parametrize("status", [ImportBatch.Status.RUNNING, ImportBatch.Status.QUEUED])
def test_a_run_left_by_a_dead_worker_is_marked_failed_and_can_be_run_again(world, settings, status):
    settings.IMPORT_STALE_SECONDS = 3600
    batch = left_running(world, minutes_ago=61, status=status)
    assert tasks.reclaim_stale_imports() == 1
    batch.refresh_from_db()
    assert batch.status == ImportBatch.Status.FAILED and "nothing was written" in batch.error
    assert tasks.reclaim_stale_imports() == 0  # idempotent
    services.confirm_batch(user=world.officer, batch=batch, valid_rows_only=False)
    assert services.import_batch(batch.pk).status == ImportBatch.Status.DONE


def test_a_run_with_recent_signs_of_life_is_not_reclaimed(world, settings):
    settings.IMPORT_STALE_SECONDS = 3600
    batch = left_running(world, minutes_ago=59)
    assert tasks.reclaim_stale_imports() == 0
    batch.refresh_from_db()
    assert batch.status == ImportBatch.Status.RUNNING


def test_a_stale_run_is_shown_failed_on_its_page(world, settings, login):
    settings.IMPORT_STALE_SECONDS = 3600
    batch = left_running(world, minutes_ago=120)
    client = login(world.officer)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    html = client.get(batch.get_absolute_url()).content.decode()
    assert "the background worker ended" in html
    assert ImportBatch.objects.get(pk=batch.pk).status == ImportBatch.Status.FAILED


def test_a_redelivered_import_task_marks_its_stale_run_failed(world, settings):
    settings.IMPORT_STALE_SECONDS = 3600
    batch = left_running(world, minutes_ago=120)
    assert tasks.run_import(batch.pk) == ImportBatch.Status.FAILED


def test_every_task_of_the_project_has_an_explicit_retry_policy():
    from config.celery import app

    ours = {name: task for name, task in app.tasks.items()
            if name.split(".")[0] in ("exchange", "reports", "households", "reviews", "programs", "core")}
    assert {"exchange.tasks.check_import", "exchange.tasks.run_import", "reports.tasks.prepare_report_pack",
            "reports.tasks.refresh_dirty_rollups", "households.tasks.refresh_commune_summary"} <= set(ours)
    for name, task in ours.items():
        assert task.acks_late is True, name
        assert task.reject_on_worker_lost is not None, name
        assert "max_retries" in type(task).__dict__, name


# -- the check: exclusive and from a clean slate -------------------------------------------------

def report_of(batch: ImportBatch):
    batch.refresh_from_db()
    return (batch.status, batch.total_rows, batch.created, batch.rejected, batch.issues.count(),
            StagedRow.objects.filter(batch=batch).count())


def test_checking_a_batch_again_gives_the_same_report(world, both_paths, django_capture_on_commit_callbacks):
    bad = [*GOOD_MEMBERS, dict(GOOD_MEMBERS[2], **{"Giới tính": "?"})]
    batch = checked(world.officer, workbook_bytes([household_row()], bad))
    first = report_of(batch)
    assert first[0] == ImportBatch.Status.VALIDATED and first[1] == 5 and first[3] > 0
    services.check_batch(batch.pk)  # a second delivery of the task
    assert report_of(batch) == first
    with django_capture_on_commit_callbacks(execute=True):
        services.recheck_batch(user=world.officer, batch=batch)
    assert report_of(batch) == first


def test_a_check_under_way_is_not_started_a_second_time(world):
    batch = services.create_batch(user=world.officer, upload=io.BytesIO(good_file()), file_name="ds.xlsx")
    ImportBatch.objects.filter(pk=batch.pk).update(started_at=timezone.now(), heartbeat_at=timezone.now())
    again = services.check_batch(batch.pk)
    assert again.status == ImportBatch.Status.VALIDATING and again.total_rows == 0 and not again.issues.exists()


@pytest.mark.django_db(transaction=True)
def test_two_checks_of_a_large_file_at_once_do_not_double_its_report(monkeypatch, settings, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("row locks between connections are exercised on PostgreSQL")
    from exchange import bulk

    from .world import build_world

    settings.MEDIA_ROOT = tmp_path
    monkeypatch.setattr(bulk, "LARGE_FILE_BYTES", 0)
    world = build_world()
    households = [household_row(code=f"{n:04d}") for n in range(100, 140)]
    members = [dict(GOOD_MEMBERS[0], **{"Mã hộ": f"{n:04d}", "Số định danh": ""}) for n in range(100, 140)]
    batch = services.create_batch(user=world.officer, upload=io.BytesIO(workbook_bytes(households, members)),
                                  file_name="ds.xlsx")
    barrier = threading.Barrier(2)

    def check():
        try:
            barrier.wait(timeout=10)
            services.check_batch(batch.pk)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=check) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    batch.refresh_from_db()
    assert batch.status == ImportBatch.Status.VALIDATED
    assert (batch.total_rows, batch.rejected) == (80, 0), list(batch.issues.values_list("message", flat=True)[:3])
    assert StagedRow.objects.filter(batch=batch).count() == 80
