"""Phiếu B in the exchange format: the survey export, and its import through the
Survey admin (django-import-export), written by reviews.services.record_survey."""

import csv
import io

import pytest
import tablib
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from exchange import exporter
from exchange.columns import SURVEYS
from exchange.resources import SurveyResource
from exchange.values import format_classification
from reviews import services
from reviews.models import ReviewEvent, ReviewRound, Survey

from .review_world import POOR_FLAGS, flags, review_commune

SURVEY_HEADERS = [column.header for column in SURVEYS.columns]
RESULT_HEADERS = ["Phân loại", "Số chỉ số thiếu hụt", "Giải thích"]
YEAR = timezone.localdate().year


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def csv_text(user) -> str:
    out = io.BytesIO()
    exporter.export("surveys", user, "csv", out)
    return out.getvalue().decode("utf-8-sig")


def csv_rows(user) -> list[list[str]]:
    return list(csv.reader(io.StringIO(csv_text(user), newline="")))


def dataset(*rows: dict) -> tablib.Dataset:
    headers = list(rows[0])
    data = tablib.Dataset(headers=headers)
    for row in rows:
        data.append([row[h] for h in headers])
    return data


def phieu_b_row(commune="02794", code="0001", year=YEAR, income="1.000.000", deprived=POOR_FLAGS, **extra):
    from reviews.phieu_b import COLUMN_OF_INDICATOR

    row = {"Mã xã": commune, "Mã hộ": code, "Năm rà soát": str(year), "Thu nhập bình quân": income,
           "Điểm thu nhập": ""}
    for indicator, key in COLUMN_OF_INDICATOR.items():
        row[SURVEYS.column(key).header] = "Có" if indicator in deprived else "Không"
    row["Hộ làm nông, lâm, ngư, diêm nghiệp"] = "Có"
    return {**row, **extra}


def pending_survey(world, household=None, year=YEAR) -> Survey:
    household = household or world.household
    actor = world.officer if household.commune_id == world.tathang.pk else world.superuser
    round_ = services.open_round(actor=actor, commune=household.commune, year=year)
    return round_.surveys.get(household=household)


def errors_by_header(result) -> dict[int, dict[str, list[str]]]:
    return {row.number: row.error_dict for row in result.invalid_rows}


# -- export ---------------------------------------------------------------------------------

def test_export_headers_values_and_scope(world):
    review = review_commune(world.officer, world.household)
    review_commune(world.superuser, world.household_yty)
    rows = csv_rows(world.officer)
    assert rows[0] == SURVEY_HEADERS + RESULT_HEADERS
    survey = review.survey
    indicators = [("Có" if code in POOR_FLAGS else "Không")
                  for code in ("employment", "dependants", "nutrition", "health_insurance", "adult_education",
                               "child_schooling", "housing_quality", "housing_area", "drinking_water", "latrine",
                               "telecom", "information_assets")]
    assert rows[1:] == [["02794", "0001", str(YEAR), "1000000", "", *indicators, "Không", "",
                         format_classification(survey.category),
                         str(survey.deprivation_count), survey.explanation]]
    # Y Tý's survey is outside the officer's area; the officer of Y Tý sees only it.
    assert [row[:2] for row in csv_rows(world.officer2)[1:]] == [["02701", "0001"]]


def test_export_leaves_out_surveys_not_yet_surveyed(world):
    pending_survey(world)
    assert csv_rows(world.officer)[1:] == []


def test_export_command_and_admin_export_take_surveys(world, tmp_path, client):
    from django.core.management import call_command

    review_commune(world.officer, world.household)
    out = tmp_path / "phieu-b.xlsx"
    call_command("export_file", user="officer", kind="surveys", out=str(out), stdout=io.StringIO())
    assert out.stat().st_size > 0
    client.force_login(world.officer)
    response = client.get(reverse("exchange:export"), {"kind": "surveys", "format": "csv"})
    assert response.status_code == 200
    assert b"".join(response.streaming_content).decode("utf-8-sig").splitlines()[0].startswith("Mã xã,Mã hộ,Năm")
    resource = SurveyResource(user=world.officer)
    exported = resource.export(Survey.objects.all())
    assert list(exported.headers) == SURVEY_HEADERS + RESULT_HEADERS
    assert [list(row[:3]) for row in exported] == [["02794", "0001", YEAR]]


# -- import -----------------------------------------------------------------------------------

def test_export_then_import_changes_nothing(world):
    review = review_commune(world.officer, world.household)
    before = Survey.objects.get(pk=review.survey.pk)
    events = ReviewEvent.objects.count()
    data = tablib.Dataset().load(csv_text(world.officer), format="csv")
    result = SurveyResource(user=world.officer).import_data(data, dry_run=False, user=world.officer)
    assert not result.has_validation_errors()
    assert [row.import_type for row in result.rows] == ["skip"]
    assert result.unknown_columns == RESULT_HEADERS  # reported, ignored
    after = Survey.objects.get(pk=review.survey.pk)
    assert (after.version, after.surveyed_at, after.meeting_id) == (before.version, before.surveyed_at,
                                                                    before.meeting_id)
    assert ReviewEvent.objects.count() == events


def test_import_classifies_and_records_through_the_service(world):
    survey = pending_survey(world)
    resource = SurveyResource(user=world.officer)
    preview = resource.import_data(dataset(phieu_b_row()), dry_run=True, user=world.officer)
    assert [row.import_type for row in preview.rows] == ["update"]
    assert Survey.objects.get(pk=survey.pk).status == Survey.Status.PENDING  # a preview writes nothing

    result = resource.import_data(dataset(phieu_b_row()), dry_run=False, user=world.officer)
    assert not result.has_validation_errors()
    survey.refresh_from_db()
    assert survey.status == Survey.Status.SURVEYED
    assert survey.category and survey.standard_code == survey.round.standard.code
    assert survey.income == 1_000_000 and survey.is_farm is True
    assert survey.deprivations == flags(survey.round.standard, *POOR_FLAGS)
    assert survey.surveyed_by == world.officer
    assert ReviewEvent.objects.filter(round=survey.round, action=ReviewEvent.Action.SURVEYED).count() == 1
    # The same file again: unchanged.
    again = resource.import_data(dataset(phieu_b_row()), dry_run=False, user=world.officer)
    assert [row.import_type for row in again.rows] == ["skip"]


def test_the_causes_column_is_read_kept_exported_and_read_back(world):
    survey = pending_survey(world)
    resource = SurveyResource(user=world.officer)
    row = phieu_b_row(**{"Nguyên nhân nghèo": "thiếu vốn; Ốm đau, bệnh nặng hoặc tai nạn;no_land"})
    result = resource.import_data(dataset(row), dry_run=False, user=world.officer)
    assert not result.has_validation_errors()
    survey.refresh_from_db()
    assert survey.category == "poor" and survey.causes == ["no_land", "no_capital", "illness"]
    # A file without the column, or with the cell empty, leaves them: the row is unchanged.
    for again in (phieu_b_row(), phieu_b_row(**{"Nguyên nhân nghèo": ""})):
        assert [r.import_type for r in resource.import_data(dataset(again), dry_run=False,
                                                            user=world.officer).rows] == ["skip"]
    survey.refresh_from_db()
    assert survey.causes == ["no_land", "no_capital", "illness"]
    # Exported by name, and that file reads back unchanged.
    exported = csv_rows(world.officer)
    cell = exported[1][exported[0].index("Nguyên nhân nghèo")]
    assert cell == "Không có đất sản xuất; Thiếu vốn sản xuất; Ốm đau, bệnh nặng hoặc tai nạn"
    data = tablib.Dataset().load(csv_text(world.officer), format="csv")
    assert [r.import_type for r in resource.import_data(data, dry_run=False, user=world.officer).rows] == ["skip"]
    # "Không" clears them.
    resource.import_data(dataset(phieu_b_row(**{"Nguyên nhân nghèo": "Không"})), dry_run=False, user=world.officer)
    survey.refresh_from_db()
    assert survey.causes == []


def test_an_unknown_cause_is_rejected_naming_the_column(world):
    survey = pending_survey(world)
    row = phieu_b_row(**{"Nguyên nhân nghèo": "thiếu vốn; xui xẻo"})
    result = SurveyResource(user=world.officer).import_data(dataset(row), dry_run=False, user=world.officer)
    errors = errors_by_header(result)
    assert "xui xẻo" in " ".join(errors[2]["Nguyên nhân nghèo"])
    assert Survey.objects.get(pk=survey.pk).status == Survey.Status.PENDING


@pytest.mark.parametrize("row, header", [
    (phieu_b_row(income="-500000"), "Thu nhập bình quân"),
    (phieu_b_row(**{"Thiếu BHYT": ""}), "Thiếu BHYT"),
    (phieu_b_row(commune="99999"), "Mã xã"),
    (phieu_b_row(commune="02701"), "Mã xã"),  # Y Tý: outside the officer's area
    (phieu_b_row(code="9999"), "Mã hộ"),
    (phieu_b_row(year=YEAR - 5), "Năm rà soát"),  # no review that year
], ids=["negative-income", "missing-flag", "unknown-commune", "out-of-area", "unknown-household", "no-round"])
def test_bad_rows_are_rejected_naming_the_column_and_nothing_is_written(world, row, header):
    survey = pending_survey(world)
    good = phieu_b_row()
    result = SurveyResource(user=world.officer).import_data(dataset(good, row), dry_run=False, user=world.officer)
    assert result.has_validation_errors()
    errors = errors_by_header(result)
    assert list(errors) == [3]
    assert header in errors[3], errors[3]
    assert Survey.objects.get(pk=survey.pk).status == Survey.Status.PENDING  # the good row is not written either
    assert not ReviewEvent.objects.filter(action=ReviewEvent.Action.SURVEYED).exists()


def test_a_round_no_longer_editable_is_rejected(world):
    survey = pending_survey(world)
    ReviewRound.objects.filter(pk=survey.round_id).update(status=ReviewRound.Status.SUBMITTED)
    result = SurveyResource(user=world.officer).import_data(dataset(phieu_b_row()), dry_run=False,
                                                            user=world.officer)
    assert "Năm rà soát" in errors_by_header(result)[2]
    assert Survey.objects.get(pk=survey.pk).status == Survey.Status.PENDING


def test_reviewer_rows_are_refused(world):
    pending_survey(world)
    result = SurveyResource(user=world.reviewer).import_data(dataset(phieu_b_row()), dry_run=True,
                                                             user=world.reviewer)
    assert "Mã xã" in errors_by_header(result)[2]


# -- the admin --------------------------------------------------------------------------------

def upload(rows) -> SimpleUploadedFile:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return SimpleUploadedFile("phieu-b.csv", text.getvalue().encode("utf-8-sig"), content_type="text/csv")


def csv_format_index():
    from exchange.resources import FORMATS

    return next(i for i, fmt in enumerate(FORMATS) if fmt().get_extension() == "csv")


def test_admin_import_preview_then_confirm(world, client):
    survey = pending_survey(world)
    client.force_login(world.officer)
    url = reverse("admin:reviews_survey_import")
    assert client.get(url).status_code == 200
    response = client.post(url, {"import_file": upload([phieu_b_row()]), "format": csv_format_index(),
                                 "resource": 0})
    assert response.status_code == 200
    confirm = response.context["confirm_form"]
    assert Survey.objects.get(pk=survey.pk).status == Survey.Status.PENDING
    response = client.post(reverse("admin:reviews_survey_process_import"),
                           {name: confirm.initial[name] for name in confirm.initial})
    assert response.status_code == 302
    assert Survey.objects.get(pk=survey.pk).status == Survey.Status.SURVEYED


def test_admin_import_shows_rejected_rows_without_confirmation(world, client):
    pending_survey(world)
    client.force_login(world.officer)
    response = client.post(reverse("admin:reviews_survey_import"), {
        "import_file": upload([phieu_b_row(income="-1")]), "format": csv_format_index(), "resource": 0})
    assert response.status_code == 200
    assert "confirm_form" not in response.context
    assert "Thu nhập bình quân" in response.content.decode()


def test_admin_import_only_for_roles_that_edit(world, client):
    client.force_login(world.reviewer)
    assert client.get(reverse("admin:reviews_survey_import")).status_code == 403
    assert client.get(reverse("admin:reviews_survey_export")).status_code == 200
    client.force_login(world.province_admin)
    assert client.get(reverse("admin:reviews_survey_import")).status_code == 403
