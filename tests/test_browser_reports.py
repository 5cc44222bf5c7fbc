"""The figures pages in headless Chromium: from a district's dashboard down to a commune's poor
households, and form 7.2 downloaded as an Excel file.

On the demo data (whose build computes every year's rollups), `huyen_muongkhuong`
opens "Figures" from the menu, drills into Tả Thàng, opens its poor households in
the household list, then downloads the district's form 7.2 and reads it with openpyxl.
"""

import re

import openpyxl
import pytest
from django.core.management import call_command
from django.utils import translation
from django.utils.translation import gettext

from geo.models import AdminUnit
from households.models import Household
from reports.models import Rollup

from .conftest import browser_page  # noqa: F401 - the fixture, as tests/test_browser.py imports it

PASSWORD = "demo12345"


def vi(text: str) -> str:
    """A label as the pages show it (the browser asks for Vietnamese)."""
    with translation.override("vi"):
        return gettext(text)


def navigate(page, selector: str) -> None:
    with page.expect_navigation():
        page.click(selector)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_reviewer_drills_from_the_district_to_poor_households_and_downloads_form_7_2(
        live_server, browser_page, tmp_path):  # noqa: F811
    call_command("seed_demo", verbosity=0)
    page, url = browser_page, live_server.url
    district = AdminUnit.objects.get(edition=2021, level=AdminUnit.Level.DISTRICT, code="083")
    tathang = AdminUnit.objects.get(edition=2021, level=AdminUnit.Level.COMMUNE, code="02794")

    page.goto(f"{url}/accounts/login/")
    page.fill("#id_username", "huyen_muongkhuong")
    page.fill("#id_password", PASSWORD)
    navigate(page, "button[type=submit]")

    # The menu is folded on a phone; "Figures" opens the district at its latest year.
    page.click(".navbar-toggler")
    page.wait_for_selector("#mainnav.show")  # opened to the end of its transition, so the click lands
    navigate(page, f"#mainnav a:has-text('{vi('Figures')}')")
    year = max(Rollup.objects.filter(unit=district).values_list("year", flat=True))
    assert page.url.endswith(f"/reports/{district.pk}/{year}/")
    rollup = Rollup.objects.get(unit=district, year=year, stage="official")
    assert page.inner_text("[data-testid=poor-households]").strip() == f"{rollup.poor_households:,}".replace(",", ".")
    assert page.locator("[data-testid=rate-chart] svg").count() == 1
    communes = Rollup.objects.filter(unit__parent=district, year=year, stage="official").count()
    assert page.locator("[data-testid=child-row]").count() == communes

    # Down to Tả Thàng, then its poor households on the register.
    navigate(page, f"[data-testid=child-link]:has-text('{tathang.name}')")
    assert page.url.endswith(f"/reports/{tathang.pk}/{year}/?stage=official")
    navigate(page, "[data-testid=link-poor]")
    assert re.search(rf"/households/\?commune={tathang.pk}&classification=poor$", page.url)
    poor = Household.objects.filter(commune=tathang, classification="poor", is_archived=False).count()
    assert poor > 0
    assert page.locator("[data-testid=household-table] tbody tr").count() == min(poor, 25)

    # Back at the district: the report tables, and form 7.2 as an Excel file.
    page.goto(f"{url}/reports/{district.pk}/{year}/")
    navigate(page, "[data-testid=reports-link]")
    with page.expect_download() as info:
        page.click("[data-testid=xlsx-7\\.2]")
    download = info.value
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    assert path.suffix == ".xlsx"
    sheet = openpyxl.load_workbook(path).active
    labels = [row[0] for row in sheet.iter_rows(values_only=True) if row and row[0]]
    names = list(Rollup.objects.filter(unit__parent=district, year=year, stage="official")
                 .values_list("unit__name", flat=True))
    assert names and all(name in labels for name in names)
    ends = {row[0]: row[-3] for row in sheet.iter_rows(values_only=True) if row and row[0] in names}
    assert ends[tathang.name] == Rollup.objects.get(unit=tathang, year=year, stage="official").poor_households
