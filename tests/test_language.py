from django.conf import settings
from django.template import Context, Template
from django.urls import reverse
from django.utils import translation


def test_vietnamese_is_served_even_to_a_browser_that_prefers_english(client, db):
    page = client.get(reverse("login"), HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9").content.decode()
    assert "Đăng nhập" in page


def test_english_only_when_the_user_chooses_it(client, db):
    response = client.post(reverse("set_language"), {"language": "en", "next": "/accounts/login/"})
    assert response.status_code == 302
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
    page = client.get(reverse("login")).content.decode()
    assert "Sign in" in page and "Đăng nhập" not in page


def test_vietnamese_numbers_use_dots_for_thousands_and_years_stay_plain():
    template = Template("{% load l10n %}{{ amount }}|{{ year|unlocalize }}")
    with translation.override("vi"):
        assert template.render(Context({"amount": 1500000, "year": 2025})) == "1.500.000|2025"
