import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from core.models import AuditEvent
from households.models import Household

ROOT = Path(__file__).resolve().parent.parent


def run_manage(*args, env_extra):
    unset = ("SECRET_KEY", "ALLOWED_HOSTS", "DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE", "REDIS_URL", "CELERY_BROKER_URL")
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env.update(env_extra)
    command = [sys.executable, "manage.py", *args]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,  # noqa: S603 (our own manage.py)
                          timeout=120, check=False)


def test_production_settings_refuse_to_start_without_a_secret_key():
    result = run_manage("check", env_extra={"DJANGO_SETTINGS_MODULE": "config.settings.production",
                                            "ALLOWED_HOSTS": "poverty.example.org"})
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


PRODUCTION = {
    "DJANGO_SETTINGS_MODULE": "config.settings.production",
    "SECRET_KEY": "k7#Qz!x2Lp9@vR4m*Tn8&Yb6^Wc3(Hd5)Jf1-Gs0=Ua+Ie_Oo~Pq|Ar<Bt>Cu?Dv",
    "ALLOWED_HOSTS": "poverty.example.org",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
}


def test_production_settings_pass_the_deployment_check_without_warnings():
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env_extra=PRODUCTION)
    assert result.returncode == 0, result.stderr + result.stdout
    assert "no issues" in result.stdout


def test_deployment_check_warns_when_each_process_would_count_sign_in_failures_alone():
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env_extra={**PRODUCTION, "REDIS_URL": ""})
    assert result.returncode != 0
    assert "core.W001" in result.stderr + result.stdout


def test_sessions_expire_when_idle_and_when_the_browser_closes():
    assert settings.SESSION_EXPIRE_AT_BROWSER_CLOSE is True
    assert settings.SESSION_SAVE_EVERY_REQUEST is True
    assert settings.SESSION_COOKIE_AGE <= 8 * 60 * 60


def test_login_is_refused_after_repeated_failures_even_with_the_right_password(world, client):
    url = reverse("login")
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        response = client.post(url, {"username": "officer", "password": "wrong"})
        assert response.status_code == 200
    response = client.post(url, {"username": "officer", "password": "test-pass-123"})
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
    assert response.context["form"].errors.as_data()["__all__"][0].code == "locked"


def test_successful_login_after_a_few_failures_resets_the_count(world, client):
    url = reverse("login")
    for _ in range(settings.LOGIN_FAILURE_LIMIT - 1):
        client.post(url, {"username": "officer", "password": "wrong"})
    response = client.post(url, {"username": "officer", "password": "test-pass-123"})
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(world.officer.pk)


def admin_change_data(h, **extra):
    """The admin's change form for a household and its members, as the browser posts it."""
    members = list(h.members.order_by("pk"))
    data = {
        "village": h.village_id, "code": h.code, "area": h.area, "phone": h.phone, "expected_version": h.version,
        "members-TOTAL_FORMS": str(len(members)), "members-INITIAL_FORMS": str(len(members)),
        "members-MIN_NUM_FORMS": "0", "members-MAX_NUM_FORMS": "1000",
    }
    for i, m in enumerate(members):
        data.update({
            f"members-{i}-id": m.pk, f"members-{i}-household": h.pk, f"members-{i}-full_name": m.full_name,
            f"members-{i}-sex": m.sex, f"members-{i}-birth_year": m.birth_year, f"members-{i}-personal_id": "",
            f"members-{i}-ethnicity": m.ethnicity_id, f"members-{i}-relation": m.relation,
            f"members-{i}-has_health_insurance": "on",
        })
    data.update(extra)
    return data


def test_admin_shows_the_classification_but_does_not_change_it(world, client):
    client.force_login(world.officer)
    h = world.household
    url = reverse("admin:households_household_change", args=[h.pk])
    form = client.get(url).context["adminform"].form
    assert "classification" not in form.fields and "classification_year" not in form.fields
    data = admin_change_data(h, phone="0977000111", classification="none", classification_year="")
    assert client.post(url, data).status_code == 302
    h.refresh_from_db()
    assert (h.phone, h.classification, h.classification_year) == ("0977000111", "poor", 2025)


def test_admin_change_goes_through_the_service_and_is_audited(world, client):
    client.force_login(world.officer)
    h = world.household
    members = list(h.members.order_by("pk"))
    data = {
        "village": h.village_id, "code": h.code, "area": h.area, "phone": "0977000111",
        "expected_version": h.version,
        "members-TOTAL_FORMS": str(len(members)), "members-INITIAL_FORMS": str(len(members)),
        "members-MIN_NUM_FORMS": "0", "members-MAX_NUM_FORMS": "1000",
    }
    for i, m in enumerate(members):
        data.update({
            f"members-{i}-id": m.pk, f"members-{i}-household": h.pk, f"members-{i}-full_name": m.full_name,
            f"members-{i}-sex": m.sex, f"members-{i}-birth_year": m.birth_year, f"members-{i}-personal_id": "",
            f"members-{i}-ethnicity": m.ethnicity_id, f"members-{i}-relation": m.relation,
            f"members-{i}-has_health_insurance": "on",
        })
    data["members-1-full_name"] = "Vàng Thị Mai"
    response = client.post(reverse("admin:households_household_change", args=[h.pk]), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    h.refresh_from_db()
    assert h.phone == "0977000111" and h.version == 2
    events = AuditEvent.objects.filter(household=h, source="admin", actor=world.officer)
    assert {e.content_type.model for e in events} == {"household", "member"}
    assert events.get(content_type__model="member").changes == {"full_name": ["Vàng Thị Mỷ", "Vàng Thị Mai"]}


def test_admin_bulk_archive_needs_a_reason_and_records_each_household(world, client):
    client.force_login(world.officer)
    url = reverse("admin:households_household_changelist")
    client.post(url, {"action": "archive_selected", "_selected_action": [world.household.pk], "reason": ""})
    assert not Household.objects.get(pk=world.household.pk).is_archived
    client.post(url, {"action": "archive_selected", "_selected_action": [world.household.pk],
                      "reason": "Hộ chuyển khẩu"})
    assert Household.objects.get(pk=world.household.pk).is_archived
    assert AuditEvent.objects.get(household=world.household, action="archive").source == "bulk"


def test_admin_offers_no_delete(world, client):
    client.force_login(world.superuser)
    response = client.get(reverse("admin:households_household_delete", args=[world.household.pk]))
    assert response.status_code == 403


@pytest.mark.parametrize("role", ["reviewer", "province_admin"])
def test_roles_above_the_commune_cannot_post_changes(world, client, role):
    client.force_login(getattr(world, role))
    response = client.post(reverse("households:archive", args=[world.household.pk]), {"reason": "x"})
    assert response.status_code == 403
    assert not Household.objects.get(pk=world.household.pk).is_archived
