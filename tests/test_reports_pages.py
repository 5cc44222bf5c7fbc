"""The figures pages on the demo: the dashboard, the report tables (page and Excel), targets.

The demo is seeded once for the module inside a transaction rolled back at the end
(as tests/test_rollups.py does); `households.demo.build` computes every year's rollups.
"""

from __future__ import annotations

from decimal import Decimal
from io import BytesIO

import openpyxl
import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection, transaction
from django.urls import reverse
from django.utils import translation

from core.models import User
from geo.models import AdminUnit
from reports import tables
from reports.models import Rollup, Target
from reviews.models import ReviewRound


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock(), translation.override("en"), transaction.atomic():
        call_command("seed_demo", verbosity=0)
        pending, connection.run_on_commit = connection.run_on_commit, []
        for _sids, callback, _robust in pending:
            callback()
        decided = (ReviewRound.objects.filter(status=ReviewRound.Status.DECIDED, kind=ReviewRound.Kind.PERIODIC)
                   .order_by("-year").values_list("year", flat=True).first())
        yield decided
        transaction.set_rollback(True)


def unit(level: str, code: str) -> AdminUnit:
    return AdminUnit.objects.get(edition=2021, level=level, code=code)


def province() -> AdminUnit:
    return unit("province", "10")


def district() -> AdminUnit:  # Mường Khương
    return unit("district", "083")


def tathang() -> AdminUnit:
    return unit("commune", "02794")


def batxat_commune() -> AdminUnit:
    """A commune of the other district (Bát Xát)."""
    return AdminUnit.objects.filter(parent=unit("district", "082"), rollups__households__gt=0).distinct().first()


def signed_in(client, username: str, language: str = "en"):
    """The user signed in, reading pages in `language` (the language cookie picks it)."""
    client.force_login(User.objects.get(username=username))
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    return client


def dashboard_url(unit_obj: AdminUnit, year: int) -> str:
    return reverse("reports:dashboard", kwargs={"unit": unit_obj.pk, "year": year})


def report_url(unit_obj: AdminUnit, year: int, form: str) -> str:
    return reverse("reports:report", kwargs={"unit": unit_obj.pk, "year": year, "form": form})


# --- who sees what --------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("username, inside, outside", [
    ("xa_tathang", ["commune"], ["district", "province", "other_commune", "other_district"]),
    ("huyen_muongkhuong", ["commune", "district"], ["province", "other_commune", "other_district"]),
    ("tinh_laocai", ["commune", "district", "province", "other_commune", "other_district"], []),
    ("admin", ["commune", "district", "province", "other_commune", "other_district"], []),
])
def test_each_page_answers_inside_the_area_and_404_outside(demo, client, username, inside, outside):
    year = demo
    units = {"commune": tathang(), "district": district(), "province": province(),
             "other_commune": batxat_commune(), "other_district": unit("district", "082")}
    client = signed_in(client, username)
    for name, expected in [(n, 200) for n in inside] + [(n, 404) for n in outside]:
        target = units[name]
        urls = [dashboard_url(target, year), reverse("reports:reports", args=[target.pk, year]),
                *(report_url(target, year, key) for key in tables.FORMS),
                report_url(target, year, "7.2") + "?format=xlsx"]
        for url in urls:
            status = client.get(url).status_code
            assert status == expected, f"{username} {name} {url}: {status}"


@pytest.mark.django_db
def test_a_district_reviewer_sees_only_its_communes_among_the_children(demo, client):
    year = demo
    client = signed_in(client, "huyen_muongkhuong")
    page = client.get(dashboard_url(district(), year)).content.decode()
    communes = AdminUnit.objects.filter(parent=district(), rollups__year=year, rollups__stage="official").distinct()
    for commune in communes:
        assert dashboard_url(commune, year) in page
    assert dashboard_url(batxat_commune(), year) not in page


@pytest.mark.django_db
def test_the_default_dashboard_opens_the_users_unit_at_the_latest_year(demo, client):
    client = signed_in(client, "huyen_muongkhuong")
    response = client.get(reverse("reports:home"))
    latest = max(Rollup.objects.filter(unit=district()).values_list("year", flat=True))
    assert response.status_code == 302
    assert response.url == dashboard_url(district(), latest)


@pytest.mark.django_db
def test_anonymous_users_are_sent_to_sign_in(demo, client):
    response = client.get(dashboard_url(district(), demo))
    assert response.status_code == 302 and "/accounts/login/" in response.url


# --- the dashboard ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_dashboard_shows_the_rollup_figures_charts_and_drill_down(demo, client):
    year = demo
    client = signed_in(client, "tinh_laocai")
    rollup = Rollup.objects.get(unit=district(), year=year, stage="official")
    page = client.get(dashboard_url(district(), year)).content.decode()
    assert f"{rollup.poor_households:,}" in page or str(rollup.poor_households) in page
    assert f"{rollup.poor_rate}%" in page
    assert page.count("<svg") == 2  # the rates over the years and the deprivation profile, no script library
    assert "<script src=\"http" not in page
    assert reverse("reports:dashboard", args=[province().pk, year]) in page  # up to the province
    # Each commune of the district links to its own dashboard; at a commune, numbers open the household list.
    assert dashboard_url(tathang(), year) in page
    commune_page = client.get(dashboard_url(tathang(), year)).content.decode()
    assert f"/households/?commune={tathang().pk}&amp;classification=poor" in commune_page
    assert "provisional" in commune_page


@pytest.mark.django_db
def test_preliminary_toggle_reads_the_preliminary_rollup(demo, client):
    year = demo + 1  # the current year: its round is under way
    client = signed_in(client, "huyen_muongkhuong")
    preliminary = Rollup.objects.get(unit=district(), year=year, stage="preliminary")
    page = client.get(dashboard_url(district(), year) + "?stage=preliminary").content.decode()
    assert "preliminary figures from the year" in page
    assert f"{preliminary.poor_rate}%" in page


@pytest.mark.django_db
def test_dashboard_reads_rollups_only_with_the_same_query_ceiling_at_each_level(
        demo, client, django_assert_max_num_queries):
    year = demo
    client = signed_in(client, "admin")
    counts = []
    for target in (tathang(), district(), province()):
        client.get(dashboard_url(target, year))  # warm the session
        with django_assert_max_num_queries(25) as captured:
            assert client.get(dashboard_url(target, year)).status_code == 200
        counts.append(len(captured))
        sql = " ".join(q["sql"] for q in captured.captured_queries)
        assert "households_household" not in sql and "households_member" not in sql
    assert len(set(counts)) == 1, counts


@pytest.mark.django_db
def test_vietnamese_pages_use_the_decimal_comma(demo, client):
    year = demo
    client = signed_in(client, "huyen_muongkhuong", "vi")
    rollup = Rollup.objects.get(unit=district(), year=year, stage="official")
    page = client.get(dashboard_url(district(), year)).content.decode()
    assert f"{rollup.poor_rate}%".replace(".", ",") in page


# --- targets ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_reviewer_sets_a_communes_target_and_the_dashboard_shows_its_achievement(demo, client):
    year = demo
    # A commune of the district whose poverty rate fell over the decided year.
    rates = {}
    for rollup in Rollup.objects.filter(unit__parent=district(), year__in=[year - 1, year], stage="official"):
        rates.setdefault(rollup.unit, {})[rollup.year] = rollup.poor_rate
    commune, made = max(((u, r[year - 1] - r[year]) for u, r in rates.items()
                         if r.get(year) is not None and r.get(year - 1) is not None), key=lambda item: item[1])
    assert made > 0, "some demo commune has fewer poor households after its decision"
    client = signed_in(client, "huyen_muongkhuong")
    planned = (made / Decimal("1.3")).quantize(Decimal("0.01"))
    response = client.post(reverse("reports:target_new"), {
        "unit": commune.pk, "year": year, "kind": "reduction", "value": str(planned)})
    assert response.status_code == 302
    target = Target.objects.get(unit=commune, year=year, kind="reduction")
    assert target.value == planned and target.set_by.username == "huyen_muongkhuong"
    expected = (100 * made / planned).quantize(Decimal("0.1"))
    page = client.get(dashboard_url(commune, year)).content.decode()
    assert f"achieved {expected}% of the plan" in page
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "vi"
    vi_page = client.get(dashboard_url(commune, year)).content.decode()
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    assert f"{expected}%".replace(".", ",") in vi_page
    # Setting it again updates the one target.
    client.post(reverse("reports:target_new"), {"unit": commune.pk, "year": year, "kind": "reduction",
                                                "value": "2"})
    assert Target.objects.filter(unit=commune, year=year, kind="reduction").count() == 1
    assert Target.objects.get(unit=commune, year=year, kind="reduction").value == Decimal("2")


@pytest.mark.django_db
@pytest.mark.parametrize("kind, value, field", [
    ("rate", "120", "value"), ("reduction", "0", "value"), ("escapes", "12.5", "value"), ("escapes", "-3", "value"),
    ("rate", "abc", "value"), ("bogus", "3", "kind"),
])
def test_bad_target_input_is_refused_on_its_field(demo, client, kind, value, field):
    client = signed_in(client, "tinh_laocai")
    response = client.post(reverse("reports:target_new"), {
        "unit": district().pk, "year": demo, "kind": kind, "value": value})
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert not Target.objects.filter(unit=district(), year=demo).exists()


@pytest.mark.django_db
def test_targets_outside_the_users_units_are_refused(demo, client):
    reviewer = signed_in(client, "huyen_muongkhuong")
    # A reviewer sets its communes' targets, not its own district's nor another district's communes.
    for target in (district(), batxat_commune()):
        response = reviewer.post(reverse("reports:target_new"), {
            "unit": target.pk, "year": demo, "kind": "rate", "value": "10"})
        assert "unit" in response.context["form"].errors
    assert signed_in(client, "xa_tathang").get(reverse("reports:target_new")).status_code == 403
    assert not Target.objects.exists()


# --- the report tables and their Excel files -----------------------------------------------------------------


def workbook(response):
    return openpyxl.load_workbook(BytesIO(b"".join(response.streaming_content) if response.streaming
                                          else response.content))


def row_of(sheet, label: str) -> list:
    for row in sheet.iter_rows(values_only=True):
        if row and row[0] == label:
            return list(row)
    raise AssertionError(f"no row {label!r}")


@pytest.mark.django_db
def test_form_7_2_excel_totals_equal_the_rollup_and_each_commune_has_a_row(demo, client):
    year = demo
    client = signed_in(client, "huyen_muongkhuong")
    response = client.get(report_url(district(), year, "7.2") + "?format=xlsx")
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    sheet = workbook(response).active
    rollup = Rollup.objects.get(unit=district(), year=year, stage="official")
    before = Rollup.objects.get(unit=district(), year=year - 1, stage="official")
    total = row_of(sheet, "Total")
    start, end = rollup.movements["poor"]["start"], rollup.movements["poor"]["end"]
    assert total[1:3] == [start["households"], start["persons"]]
    assert total[-3:-1] == [rollup.poor_households, rollup.poor_persons] == [end["households"], end["persons"]]
    assert Decimal(str(total[-1])) == rollup.poor_rate and Decimal(str(total[3])) == before.poor_rate
    escaped = sum(rollup.movements["poor"]["decrease"].get(c, {}).get("households", 0)
                  for c in ("escaped_near", "escaped_above"))
    decreased = sum(cell["households"] for cell in rollup.movements["poor"]["decrease"].values())
    assert total[4] == decreased and escaped > 0
    for commune in Rollup.objects.filter(unit__parent=district(), year=year, stage="official"):
        assert row_of(sheet, commune.unit.name)[-3] == commune.poor_households
    urban, rural = row_of(sheet, "Urban"), row_of(sheet, "Rural")
    assert urban[-3] + rural[-3] == rollup.poor_households
    texts = [c for row in sheet.iter_rows(values_only=True) for c in row if isinstance(c, str)]
    assert "Prepared by" in texts and "HEAD OF THE UNIT" in texts
    assert any(t.startswith("FORM 7.2") for t in texts)


@pytest.mark.django_db
def test_form_7_3_7_9_deprivation_and_target_groups_match_the_rollup(demo, client):
    year = demo
    client = signed_in(client, "tinh_laocai")
    rollup = Rollup.objects.get(unit=province(), year=year, stage="official")
    near = row_of(workbook(client.get(report_url(province(), year, "7.3") + "?format=xlsx")).active, "Total")
    assert near[-3:-1] == [rollup.near_poor_households, rollup.near_poor_persons]
    ethnic = workbook(client.get(report_url(province(), year, "7.9") + "?format=xlsx")).active
    assert row_of(ethnic, "Total")[1:4] == [rollup.households, rollup.persons, rollup.poor_households]
    assert row_of(ethnic, "Ethnic minorities")[3] == rollup.minority_poor_households
    assert row_of(ethnic, "Mông")[1] == rollup.ethnic_groups[
        next(code for code in rollup.ethnic_groups if code and _ethnic_name(code) == "Mông")]["households"]
    deprived = workbook(client.get(report_url(province(), year, "deprivation") + "?format=xlsx")).active
    values = [row for row in deprived.iter_rows(values_only=True) if row and isinstance(row[1], int)]
    assert sorted(r[1] for r in values[:-1]) == sorted(rollup.deprivation["poor"].values())
    groups = workbook(client.get(report_url(province(), year, "target-groups") + "?format=xlsx")).active
    assert row_of(groups, "Ethnic-minority households")[1] == \
        rollup.target_groups["ethnic_minority"]["poor_households"]


@pytest.mark.django_db
def test_form_7_2_of_the_preliminary_results_counts_this_years_surveys(demo, client):
    from django.utils import timezone

    year = timezone.localdate().year  # the demo's open reviews
    client = signed_in(client, "huyen_muongkhuong")
    rollup = Rollup.objects.get(unit=district(), year=year, stage="preliminary")
    sheet = workbook(client.get(report_url(district(), year, "7.2") + "?format=xlsx&stage=preliminary")).active
    total = row_of(sheet, "Total")
    poor = rollup.movements["poor"]
    assert total[-3:-1] == [rollup.poor_households, rollup.poor_persons]
    assert total[4] == sum(cell["households"] for cell in poor["decrease"].values())
    assert poor["decrease"] or poor["increase"]
    texts = [c for row in sheet.iter_rows(values_only=True) for c in row if isinstance(c, str)]
    assert any(t.startswith("Preliminary figures") for t in texts)


@pytest.mark.django_db
def test_form_7_10_counts_each_cause_of_the_rollup_per_commune(demo, client):
    from reviews.models import PovertyCause

    year = demo
    client = signed_in(client, "tinh_laocai")
    rollup = Rollup.objects.get(unit=province(), year=year, stage="official")
    sheet = workbook(client.get(report_url(province(), year, "7.10") + "?format=xlsx")).active
    poor = rollup.causes["poor"]
    answered = rollup.causes["answered"]["poor"]["households"]
    assert poor and answered <= rollup.poor_households
    total = row_of(sheet, "Total")
    assert total[1:3] == [rollup.poor_households, rollup.poor_households - answered]
    assert total[3:3 + len(PovertyCause)] == [poor.get(c.value, {}).get("households", 0) for c in PovertyCause]
    # Each district has its row, and the rows add up to the total.
    names = {u.name for u in AdminUnit.objects.filter(parent=province())}
    districts = []
    for row in sheet.iter_rows(values_only=True):
        if row and row[0] == "Total":
            break  # the end of the poor section
        if row and row[0] in names:
            districts.append(row)
    assert districts
    for column in range(1, 3 + len(PovertyCause)):
        assert sum(row[column] for row in districts) == total[column]
    page = client.get(report_url(province(), year, "7.10")).content.decode()
    assert "No capital for production" in page or "Thiếu vốn sản xuất" in page


def _ethnic_name(code: str) -> str:
    from households.models import Ethnicity

    return Ethnicity.objects.get(code=code).name


@pytest.mark.django_db
def test_printable_report_page_has_title_rows_and_signatures(demo, client):
    year = demo
    client = signed_in(client, "huyen_muongkhuong")
    page = client.get(report_url(district(), year, "7.2")).content.decode()
    assert "FORM 7.2" in page and "Prepared by" in page and "HEAD OF THE UNIT" in page
    assert "SOCIALIST REPUBLIC OF VIETNAM" in page
    # Each commune's row links to the commune's own form.
    assert report_url(tathang(), year, "7.2") in page
    index = client.get(reverse("reports:reports", args=[district().pk, year])).content.decode()
    assert "7.10" in index and "no cause of poverty" in index
    for key in tables.FORMS:
        assert report_url(district(), year, key) in index


@pytest.mark.django_db
def test_excel_text_cannot_run_as_a_formula(demo, client):
    year = demo
    commune = tathang()
    AdminUnit.objects.filter(pk=commune.pk).update(name="=HYPERLINK(\"x\")")
    client = signed_in(client, "huyen_muongkhuong")
    sheet = workbook(client.get(report_url(district(), year, "7.2") + "?format=xlsx")).active
    assert row_of(sheet, "'=HYPERLINK(\"x\")")
    assert not any(isinstance(c, str) and c.startswith("=") for row in sheet.iter_rows(values_only=True)
                   for c in row)


@pytest.mark.django_db
def test_unknown_report_or_year_is_not_found(demo, client):
    client = signed_in(client, "admin")
    assert client.get(report_url(district(), demo, "7.99")).status_code == 404
    assert client.get(dashboard_url(district(), 1900)).status_code == 404
