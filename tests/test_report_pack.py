"""The report pack: every official table of a unit and of the units below it, in one workbook, built by a task.

The shared world (tests/world.py) with a round in four communes and a decided year
in Tả Thàng (tests/review_world.py), and every year's rollups computed.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import timedelta
from io import BytesIO

import openpyxl
import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from reports import pack as pack_module
from reports import tables
from reports.compute import recompute_all, report_years
from reports.models import ReportPack
from reports.tasks import prepare_report_pack

from .review_world import build_reviews, decided_year
from .world import make_household


@pytest.fixture
def pack_world(world, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    world.reviews = build_reviews(world)
    world.year = world.reviews[world.tathang.pk].round.year - 1
    decided_year(world.officer, world.reviewer, world.household, world.year)
    for year in report_years():
        recompute_all(year)
    return world


def signed_in(client, user, language="en"):
    client.force_login(user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    return client


def ask(client, unit, year, capture, stage="official"):
    """Press "Prepare the report pack" on the report list page; the task runs after the commit (eagerly)."""
    with capture(execute=True):
        response = client.post(reverse("reports:pack_new", args=[unit.pk, year]), {"stage": stage})
    assert response.status_code == 302
    return ReportPack.objects.order_by("-pk").first(), response


def opened(pack: ReportPack):
    with pack.file.open("rb") as handle:
        return openpyxl.load_workbook(BytesIO(handle.read()))


def values(sheet, first: int = 1, count: int | None = None) -> list[tuple]:
    last = sheet.max_row if count is None else first + count - 1
    return [tuple(cell for cell in row) for row in sheet.iter_rows(min_row=first, max_row=last, values_only=True)]


def blocks(book) -> dict[tuple[str, str], tuple[str, int]]:
    """{(unit title, sheet title): (sheet title, first row)} from the contents sheet's links."""
    contents = book.worksheets[0]
    found = {}
    for row in contents.iter_rows(min_row=1):
        for cell in row[2:]:
            if cell.hyperlink is not None:
                match = re.fullmatch(r"#?'?(.+?)'?!A(\d+)", cell.hyperlink.location or cell.hyperlink.target or "")
                assert match, cell.hyperlink
                found[(row[0].value, cell.value)] = (match[1], int(match[2]))
    return found


def single(client, unit, year, form_key, stage="official"):
    url = reverse("reports:report", kwargs={"unit": unit.pk, "year": year, "form": form_key})
    response = client.get(url + f"?stage={stage}&format=xlsx")
    assert response.status_code == 200
    return openpyxl.load_workbook(BytesIO(response.content)).active


def unit_titles(book) -> list[str]:
    contents = book.worksheets[0]
    rows = list(contents.iter_rows(values_only=True))
    header = max(index for index, row in enumerate(rows) if row[1] == "Level" or row[1] == "Cấp")
    return [row[0] for row in rows[header + 1:] if row[0]]


# --- what the workbook holds ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_provinces_pack_holds_every_table_of_every_unit_equal_to_the_single_excel(
        pack_world, client, django_capture_on_commit_callbacks):
    world = pack_world
    client = signed_in(client, world.province_admin)
    page = client.get(reverse("reports:reports", args=[world.province.pk, world.year])).content.decode()
    assert "Prepare the report pack" in page and reverse("reports:pack_new", args=[world.province.pk, world.year]) \
        in page
    pack, response = ask(client, world.province, world.year, django_capture_on_commit_callbacks)
    assert response.url == reverse("reports:pack", args=[pack.pk])
    assert pack.status == ReportPack.Status.DONE, pack.error
    assert pack.units_done == pack.units_total == 7 and pack.finished_at and pack.language == "en"
    book = opened(pack)
    # The province, its districts by code, then the communes district by district.
    units = [world.province, world.district2, world.district, world.yty, world.town, world.lapantan, world.tathang]
    from reports.excel import unit_title

    assert unit_titles(book) == [unit_title(u) for u in units]
    # A contents sheet, then a sheet per form in the order of tables.FORMS, named as its own file names it.
    names = [single(client, world.province, world.year, key).title for key in tables.FORMS]
    assert book.sheetnames == ["Contents", *names]
    assert all(len(name) <= 31 for name in book.sheetnames)
    listed = {row[0]: row[1] for row in values(book["Contents"]) if row[0] in names}
    assert listed[names[0]] == "FORM 7.2: CHANGES IN THE LIST OF POOR HOUSEHOLDS"
    where = blocks(book)
    assert len(where) == len(units) * len(tables.FORMS)
    for unit in units:
        for key, name in zip(tables.FORMS, names, strict=True):
            expected = single(client, unit, world.year, key)
            sheet_name, first = where[(unit_title(unit), name)]
            assert sheet_name == name
            got = values(book[sheet_name], first, expected.max_row)
            width = expected.max_column
            assert [row[:width] for row in got] == values(expected), (unit.name, key)
            assert not any(cell is not None for row in got for cell in row[width:])
    # Tả Thàng's decided year: its poor household is on form 7.2, and the province's total counts it.
    tathang_72 = values(book[names[0]], where[(unit_title(world.tathang), names[0])][1])
    assert any(row[0] == "Total" and 1 in row for row in tathang_72)
    texts = [c for row in values(book[names[0]]) for c in row if isinstance(c, str)]
    assert texts.count("HEAD OF THE UNIT") == len(units) and texts.count("Prepared by") == len(units)
    # Downloading gives the stored file.
    download = client.get(reverse("reports:pack_download", args=[pack.pk]))
    assert download.status_code == 200
    assert f'filename="bo-bao-cao-{world.province.code}-{world.year}.xlsx"' in download["Content-Disposition"]
    assert openpyxl.load_workbook(BytesIO(b"".join(download.streaming_content))).sheetnames == book.sheetnames


@pytest.mark.django_db
def test_progress_counts_units_and_reaches_units_in_all(pack_world, client, monkeypatch,
                                                        django_capture_on_commit_callbacks):
    world = pack_world
    seen = []
    build = tables.build

    def watching(form_key, user, unit, year, stage="official"):
        seen.append(ReportPack.objects.values_list("status", "units_done", "units_total").get())
        return build(form_key, user, unit, year, stage)

    monkeypatch.setattr(tables, "build", watching)
    client = signed_in(client, world.reviewer)
    pack, _response = ask(client, world.district, world.year, django_capture_on_commit_callbacks)
    forms = len(tables.FORMS)
    assert seen == [("running", n // forms, 4) for n in range(4 * forms)]
    progress = client.get(reverse("reports:pack_progress", args=[pack.pk])).json()
    assert progress == {"status": "done", "status_label": "Ready", "done": 4, "total": 4, "finished": True}
    page = client.get(reverse("reports:pack", args=[pack.pk])).content.decode()
    assert 'id="import-progress"' in page and 'data-finished="1"' in page
    assert reverse("reports:pack_download", args=[pack.pk]) in page


@pytest.mark.django_db
def test_the_page_polls_while_the_pack_is_queued(pack_world, client):
    world = pack_world
    client = signed_in(client, world.reviewer)
    # Without running the task (no commit callbacks): the pack waits in the queue.
    client.post(reverse("reports:pack_new", args=[world.district.pk, world.year]))
    pack = ReportPack.objects.get()
    assert pack.status == ReportPack.Status.QUEUED
    page = client.get(reverse("reports:pack", args=[pack.pk])).content.decode()
    assert 'data-finished="0"' in page and "js/import_progress.js" in page and 'class="progress-bar"' in page
    assert reverse("reports:pack_progress", args=[pack.pk]) in page
    assert client.get(reverse("reports:pack_download", args=[pack.pk])).status_code == 404
    # Asking again while it waits opens the same pack.
    response = client.post(reverse("reports:pack_new", args=[world.district.pk, world.year]))
    assert response.url == reverse("reports:pack", args=[pack.pk]) and ReportPack.objects.count() == 1
    assert client.get(reverse("reports:pack_new", args=[world.district.pk, world.year])).status_code == 405


@pytest.mark.django_db
def test_a_second_run_of_a_done_or_running_pack_changes_nothing(pack_world, client,
                                                                django_capture_on_commit_callbacks):
    world = pack_world
    client = signed_in(client, world.reviewer)
    pack, _response = ask(client, world.district, world.year, django_capture_on_commit_callbacks)
    before = ReportPack.objects.values().get(pk=pack.pk)
    with pack.file.open("rb") as handle:
        content = handle.read()
    assert prepare_report_pack.delay(pack.pk).get() == "done"
    assert ReportPack.objects.values().get(pk=pack.pk) == before
    with pack.file.open("rb") as handle:
        assert handle.read() == content
    # A pack another worker is preparing is left to it.
    running = ReportPack.objects.create(created_by=world.reviewer, unit=world.district, year=world.year,
                                        status=ReportPack.Status.RUNNING, started_at=timezone.now())
    assert prepare_report_pack.delay(running.pk).get() == "running"
    running.refresh_from_db()
    assert running.status == "running" and not running.file and running.units_done == 0
    # One left by a worker that died long ago (past the task's time limit) is taken over.
    ReportPack.objects.filter(pk=running.pk).update(started_at=timezone.now() - timedelta(hours=3))
    assert prepare_report_pack.delay(running.pk).get() == "done"
    # A pack that no longer exists is no error.
    assert prepare_report_pack.delay(999_999).get() == ""


# --- who sees what ------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_district_reviewer_sees_only_their_packs_and_their_pack_holds_only_their_communes(
        pack_world, client, django_capture_on_commit_callbacks):
    world = pack_world
    province_client = signed_in(client, world.province_admin)
    province_pack, _ = ask(province_client, world.province, world.year, django_capture_on_commit_callbacks)
    other_district, _ = ask(province_client, world.district2, world.year, django_capture_on_commit_callbacks)
    client.logout()
    client = signed_in(client, world.reviewer)
    for pack in (province_pack, other_district):
        for name in ("reports:pack", "reports:pack_progress", "reports:pack_download"):
            assert client.get(reverse(name, args=[pack.pk])).status_code == 404, (pack.unit, name)
    # Nor may they ask for the pack of a unit outside their district.
    for unit in (world.province, world.district2, world.yty):
        assert client.post(reverse("reports:pack_new", args=[unit.pk, world.year])).status_code == 404
    assert ReportPack.objects.count() == 2
    own, _ = ask(client, world.district, world.year, django_capture_on_commit_callbacks)
    assert own.status == "done" and own.units_total == 4
    from reports.excel import unit_title

    book = opened(own)
    assert unit_titles(book) == [unit_title(u) for u in (world.district, world.town, world.lapantan, world.tathang)]
    texts = {c for sheet in book.worksheets for row in values(sheet) for c in row if isinstance(c, str)}
    assert not any(world.yty.name in text or world.district2.name in text for text in texts)
    # The list on the report list page shows their own packs only.
    page = client.get(reverse("reports:reports", args=[world.district.pk, world.year])).content.decode()
    assert reverse("reports:pack", args=[own.pk]) in page
    assert reverse("reports:pack", args=[province_pack.pk]) not in page
    # A commune officer's pack is its commune alone; the province administrator cannot open the reviewer's.
    client.logout()
    officer_pack, _ = ask(signed_in(client, world.officer), world.tathang, world.year,
                          django_capture_on_commit_callbacks)
    assert officer_pack.units_total == 1 and unit_titles(opened(officer_pack)) == [unit_title(world.tathang)]
    client.logout()
    assert signed_in(client, world.province_admin).get(reverse("reports:pack", args=[own.pk])).status_code == 404


@pytest.mark.django_db
def test_a_unit_that_left_the_requesters_area_is_not_prepared(pack_world):
    world = pack_world
    pack = ReportPack.objects.create(created_by=world.officer, unit=world.lapantan, year=world.year)
    prepare_report_pack.delay(pack.pk)
    pack.refresh_from_db()
    from django.utils import translation

    with translation.override(pack.language or "vi"):
        expected = translation.gettext("This unit is no longer in your area; the report pack was not prepared.")
    assert pack.status == "failed" and pack.error == expected and not pack.file


# --- failures and bad input ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_failing_table_marks_the_pack_failed_with_a_message_not_a_500(
        pack_world, client, monkeypatch, django_capture_on_commit_callbacks):
    world = pack_world

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setitem(tables.FORMS, "7.9", dataclasses.replace(tables.FORMS["7.9"], build=broken))
    client = signed_in(client, world.reviewer)
    pack, response = ask(client, world.district, world.year, django_capture_on_commit_callbacks)
    assert response.status_code == 302
    pack.refresh_from_db()
    assert pack.status == "failed" and pack.finished_at is not None and not pack.file
    assert "table 7.9 of Huyện Mường Khương failed" in pack.error and "disk on fire" not in pack.error
    page = client.get(reverse("reports:pack", args=[pack.pk]))
    assert page.status_code == 200 and pack.error in page.content.decode()
    assert "Prepare the report pack again" in page.content.decode()
    assert client.get(reverse("reports:pack_progress", args=[pack.pk])).json()["finished"] is True
    assert client.get(reverse("reports:pack_download", args=[pack.pk])).status_code == 404
    # Once fixed, asking again prepares a new pack.
    monkeypatch.undo()
    again, _ = ask(client, world.district, world.year, django_capture_on_commit_callbacks)
    assert again.pk != pack.pk and again.status == "done"


@pytest.mark.django_db
def test_the_pack_is_written_in_the_language_it_was_asked_in(pack_world, client, django_capture_on_commit_callbacks):
    world = pack_world
    client = signed_in(client, world.officer, "vi")
    pack, _ = ask(client, world.tathang, world.year, django_capture_on_commit_callbacks, stage="bogus")
    assert pack.language == "vi" and pack.stage == "official" and pack.status == "done"
    book = opened(pack)
    names = [single(client, world.tathang, world.year, key).title for key in tables.FORMS]
    assert book.sheetnames[1:] == names and names[0] == "Biểu 7.2"
    assert book.worksheets[0]["A4"].value.endswith("năm 2025 – Chính thức (đã có quyết định công nhận)".replace(
        "2025", str(world.year)))


@pytest.mark.django_db
def test_bad_addresses_are_not_found(pack_world, client):
    world = pack_world
    client = signed_in(client, world.province_admin)
    assert client.post(reverse("reports:pack_new", args=[world.province.pk, 1900])).status_code == 404
    assert client.post(reverse("reports:pack_new", args=[999_999, world.year])).status_code == 404
    assert client.get(reverse("reports:pack", args=[999_999])).status_code == 404


# --- cost --------------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_building_a_pack_reads_rollups_so_more_households_cost_no_more_queries(pack_world):
    world = pack_world
    units = pack_module.units_of(world.reviewer, world.district)
    today = timezone.localdate()

    def queries() -> tuple[int, str]:
        with CaptureQueriesContext(connection) as captured:
            pack_module.build_workbook(world.reviewer, units, world.year, "official", today=today)
        return len(captured), " ".join(q["sql"] for q in captured.captured_queries)

    before, sql = queries()
    assert "households_member" not in sql
    for number in range(2, 12):
        make_household(world.officer, world.tathang, world.village, f"Giàng A Sử {number}", code=f"{number:04d}",
                       classification="poor", classification_year=world.year)
    for year in report_years():
        recompute_all(year)
    after, _sql = queries()
    assert after == before


def test_sheet_names_stay_under_excels_limit_and_unique():
    taken: set[str] = set()
    long = "Share of poor and near-poor households deprived on each indicator"
    first, second = pack_module._sheet_title(long, taken), pack_module._sheet_title(long, taken)
    assert len(first) == len(second) == 31 and first != second and second.endswith(" (2)")
    assert pack_module._sheet_title("Form 7.2", taken) == "Form 7.2"
