"""The application's own error pages, in Vietnamese, in development as in production."""

import json
import os
import subprocess
import sys
from pathlib import Path

from django.core.exceptions import PermissionDenied
from django.test import Client, RequestFactory
from django.urls import path, reverse
from django.utils import translation
from django.views.defaults import server_error

from config import urls as project_urls

ROOT = Path(__file__).resolve().parent.parent

# The project's URLs plus one that refuses, for the 403 page.
urlpatterns = [
    *project_urls.urlpatterns,
    path("tests/denied/", lambda request: deny()),
]


def deny():
    raise PermissionDenied("Denied for a reason.")


PROBE = """
import json
from django.test import Client
from django.conf import settings
client = Client(SERVER_NAME="127.0.0.1")
missing = client.get("/no-such-page/")
static = client.get("/static/css/app.css")
print(json.dumps({"debug": settings.DEBUG, "status": missing.status_code,
                  "page": missing.content.decode(), "static": static.status_code}))
"""


def run_development_server_probe(tmp_path, **env_extra):
    env = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "DATABASE_URL", "DJANGO_SETTINGS_MODULE")}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings.development",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'dev.sqlite3'}",
            **env_extra,
        }
    )
    command = [sys.executable, "manage.py", "shell", "-c", PROBE]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)  # noqa: S603 (our own manage.py)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_development_server_answers_an_unknown_address_with_the_vietnamese_page_unless_debug_is_asked(tmp_path):
    probe = run_development_server_probe(tmp_path)
    assert probe["debug"] is False
    assert probe["status"] == 404
    assert "Không tìm thấy trang" in probe["page"]
    assert "URLconf" not in probe["page"] and "admin/" not in probe["page"]
    assert probe["static"] == 200  # static files are still served without DEBUG
    # DEBUG=true in the environment brings back Django's technical pages.
    probe = run_development_server_probe(tmp_path, DEBUG="true")
    assert probe["debug"] is True
    assert probe["status"] == 404 and "URLconf" in probe["page"]


def test_not_found_page_is_vietnamese_and_in_the_site_layout(client, db):
    response = client.get("/no-such-page/")
    page = response.content.decode()
    assert response.status_code == 404
    assert "Không tìm thấy trang" in page and 'class="navbar' in page
    assert '<html lang="vi">' in page


def test_forbidden_page_is_vietnamese_and_gives_the_reason(client, db, settings):
    settings.ROOT_URLCONF = __name__
    response = client.get("/tests/denied/")
    page = response.content.decode()
    assert response.status_code == 403
    assert "Không được phép" in page and "Denied for a reason." in page and 'class="navbar' in page


def test_server_error_page_is_vietnamese_and_in_the_site_layout(db):
    with translation.override("vi"):
        response = server_error(RequestFactory().get("/"))
    page = response.content.decode()
    assert response.status_code == 500
    assert "Đã xảy ra lỗi" in page and 'class="navbar' in page


def test_a_form_sent_without_its_security_token_gets_a_vietnamese_page(db):
    client = Client(enforce_csrf_checks=True)
    response = client.post(reverse("login"), {"username": "officer", "password": "x"})
    page = response.content.decode()
    assert response.status_code == 403
    assert "Biểu mẫu đã hết hạn" in page and "CSRF verification failed" not in page
