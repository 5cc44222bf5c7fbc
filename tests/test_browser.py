"""The real pages in headless Chromium (Debian's package), driven by Playwright.

The `browser_page` fixture is in conftest.py: outside CI the test skips when
Chromium is missing; under CI=true it fails instead.
"""

import os

import pytest
from django.core.management import call_command

from households.models import Household

from .conftest import browser_page  # noqa: F401 - test_review_pages imports the fixture from here


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_officer_creates_finds_and_reads_the_history_of_a_household(live_server, browser_page):  # noqa: F811
    call_command("seed_demo", verbosity=0)
    page = browser_page
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", "xa_tathang")
    page.fill("#id_password", "demo12345")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    assert "Tả Thàng" in page.inner_text("[data-testid=user-area]")

    page.goto(f"{live_server.url}/households/new/")
    page.select_option("#id_village", index=1)
    page.fill("#id_phone", "0987654321")
    members = [
        ("Giàng Seo Phủ", "male", "head", "1979", "Mông"),
        ("Vàng Thị Dính", "female", "spouse", "1982", "Mông"),
        ("Giàng Thị Mai", "female", "child", "2012", "Mông"),
    ]
    for index, (name, sex, relation, year, ethnicity) in enumerate(members):
        if index > 0:
            page.click("#add-member")
        page.fill(f"#id_members-{index}-full_name", name)
        page.select_option(f"#id_members-{index}-sex", sex)
        page.select_option(f"#id_members-{index}-relation", relation)
        page.fill(f"#id_members-{index}-birth_year", year)
        page.select_option(f"#id_members-{index}-ethnicity", label=ethnicity)
    page.click("#household-form button[type=submit]")
    page.wait_for_selector("[data-testid=member-table]")
    created = Household.objects.get(head_name="Giàng Seo Phủ", commune__code="02794")
    assert created.member_count == 3

    # Find it by the head's name typed without diacritics.
    page.goto(f"{live_server.url}/households/")
    page.fill("#id_q", "giang seo phu")
    page.click("form[role=search] button[type=submit]")
    page.wait_for_selector("[data-testid=household-table]")
    page.click(f"[data-testid=household-table] a[href='/households/{created.pk}/'] >> nth=1")
    page.wait_for_url(f"{live_server.url}/households/{created.pk}/")
    members_text = page.inner_text("[data-testid=member-table]")
    assert "Vàng Thị Dính" in members_text and "Giàng Thị Mai" in members_text
    history = page.inner_text("[data-testid=history]")
    assert history.count("xa_tathang") == 4  # who made each change
    assert "Vàng Thị Dính" in history and "0987654321" in history  # and what it was
    assert page.locator("[data-testid=history] li").count() == 4  # the household and three members
    if os.environ.get("BROWSER_SCREENSHOT"):  # set it to look at the page yourself
        page.screenshot(path=os.environ["BROWSER_SCREENSHOT"], full_page=True)
