"""Signing in: one throttle for every way in, counted per user name and address, and
holding under parallel attempts; passwords that are too short or too common refused."""

import os
import threading
import time
import uuid

import pytest
from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.forms import PasswordChangeForm
from django.contrib.auth.password_validation import validate_password
from django.core.checks import run_checks
from django.core.exceptions import ValidationError
from django.db import close_old_connections
from django.test import Client, RequestFactory, override_settings
from django.urls import reverse

from core import throttle
from core.models import User

from .world import PASSWORD

SIGN_IN = {"page": "login", "admin": "admin:login"}


def sign_in(client, door, username, password, address="127.0.0.1"):
    return client.post(reverse(SIGN_IN[door]), {"username": username, "password": password}, REMOTE_ADDR=address)


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def refused_as_locked(response) -> bool:
    errors = response.context["form"].errors.as_data().get("__all__", [])
    return any(error.code == "locked" for error in errors)


def fail(client, door, username, times, address="127.0.0.1"):
    for _ in range(times):
        response = sign_in(client, door, username, "wrong-password", address)
        assert response.status_code == 200 and not signed_in(client)


def test_admin_sign_in_is_refused_after_the_limit_even_with_the_right_password(world, client):
    fail(client, "admin", "officer", settings.LOGIN_FAILURE_LIMIT)
    response = sign_in(client, "admin", "officer", PASSWORD)
    assert response.status_code == 200 and not signed_in(client)
    assert refused_as_locked(response)


def test_a_lock_earned_on_the_admin_sign_in_holds_on_the_sign_in_page(world, client):
    fail(client, "admin", "officer", settings.LOGIN_FAILURE_LIMIT)
    response = sign_in(client, "page", "officer", PASSWORD)
    assert not signed_in(client) and refused_as_locked(response)


def test_failures_on_both_sign_in_pages_add_up_to_one_lock(world, client):
    fail(client, "page", "officer", settings.LOGIN_FAILURE_LIMIT - 1)
    fail(client, "admin", "officer", 1)
    response = sign_in(client, "admin", "officer", PASSWORD)
    assert not signed_in(client) and refused_as_locked(response)


def test_authenticating_outside_the_sign_in_forms_is_throttled_too(world):
    request = RequestFactory().post("/api/token/", REMOTE_ADDR="10.1.1.1")
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        assert authenticate(request, username="officer", password="wrong-password") is None
    assert authenticate(request, username="officer", password=PASSWORD) is None
    assert getattr(request, throttle.LOCKED_ATTRIBUTE, False)


def test_another_user_at_the_same_address_still_signs_in_after_one_is_locked(world, client):
    fail(client, "page", "officer", settings.LOGIN_FAILURE_LIMIT)
    response = sign_in(client, "page", "officer2", PASSWORD)
    assert response.status_code == 302 and client.session["_auth_user_id"] == str(world.officer2.pk)


def test_a_user_locked_at_one_address_still_signs_in_from_another(world, client):
    fail(client, "page", "officer", settings.LOGIN_FAILURE_LIMIT, address="203.0.113.9")
    assert refused_as_locked(sign_in(client, "page", "officer", PASSWORD, address="203.0.113.9"))
    response = sign_in(client, "page", "officer", PASSWORD, address="198.51.100.4")
    assert response.status_code == 302 and signed_in(client)


def test_a_user_name_is_locked_everywhere_after_failures_from_many_addresses(world, client):
    for i in range(settings.LOGIN_USER_FAILURE_LIMIT):
        fail(client, "page", "officer", 1, address=f"203.0.113.{i + 1}")
    response = sign_in(client, "page", "officer", PASSWORD, address="198.51.100.4")
    assert not signed_in(client) and refused_as_locked(response)


@override_settings(LOGIN_ADDRESS_FAILURE_LIMIT=8)
def test_one_address_trying_many_user_names_is_stopped_well_above_the_user_limit(world, client):
    office = "203.0.113.50"
    for i in range(7):
        fail(client, "page", f"guess{i}", 1, address=office)
    for _ in range(3):  # sign-ins that succeed use up nothing
        assert sign_in(client, "page", "officer", PASSWORD, address=office).status_code == 302
        client.logout()
    fail(client, "page", "guess7", 1, address=office)
    response = sign_in(client, "page", "officer", PASSWORD, address=office)
    assert not signed_in(client) and refused_as_locked(response)
    assert sign_in(client, "page", "officer", PASSWORD, address="198.51.100.4").status_code == 302


def test_a_refused_attempt_is_not_counted_as_a_failure(world, client):
    fail(client, "page", "officer", settings.LOGIN_FAILURE_LIMIT, address="203.0.113.9")
    for _ in range(20):  # more than the user name's limit over every address
        sign_in(client, "page", "officer", "wrong-password", address="203.0.113.9")
    response = sign_in(client, "page", "officer", PASSWORD, address="198.51.100.4")
    assert response.status_code == 302 and signed_in(client)


def test_a_success_clears_the_count_for_that_user_name(world, client):
    fail(client, "page", "officer", settings.LOGIN_FAILURE_LIMIT - 1)
    assert sign_in(client, "page", "officer", PASSWORD).status_code == 302
    client.logout()
    fail(client, "page", "officer", settings.LOGIN_FAILURE_LIMIT - 1)
    assert sign_in(client, "page", "officer", PASSWORD).status_code == 302


def test_the_forwarded_for_header_is_honoured_only_when_a_trusted_proxy_is_configured(world, client):
    # Not configured: a client writing its own X-Forwarded-For gets no fresh count per value.
    for i in range(settings.LOGIN_FAILURE_LIMIT):
        client.post(
            reverse("login"), {"username": "officer", "password": "wrong-password"}, HTTP_X_FORWARDED_FOR=f"192.0.2.{i}"
        )
    response = client.post(
        reverse("login"), {"username": "officer", "password": PASSWORD}, HTTP_X_FORWARDED_FOR="192.0.2.200"
    )
    assert not signed_in(client) and refused_as_locked(response)
    # Configured: every request comes from the proxy, and two offices behind it are counted apart.
    proxy = "10.0.0.2"
    office_a, office_b = Client(REMOTE_ADDR=proxy), Client(REMOTE_ADDR=proxy)
    with override_settings(TRUSTED_PROXY_HEADER="HTTP_X_FORWARDED_FOR"):
        for _ in range(settings.LOGIN_FAILURE_LIMIT):
            office_a.post(
                reverse("login"), {"username": "officer2", "password": "x"}, HTTP_X_FORWARDED_FOR="203.0.113.7"
            )
        response = office_b.post(
            reverse("login"), {"username": "officer2", "password": PASSWORD}, HTTP_X_FORWARDED_FOR="198.51.100.4"
        )
    assert response.status_code == 302


def test_behind_a_trusted_proxy_the_client_address_is_the_one_the_proxy_saw():
    factory = RequestFactory()
    # The client wrote 6.6.6.6 itself; the proxy appended the address it saw.
    request = factory.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.7")
    assert throttle.client_address(request) == "10.0.0.2"
    with override_settings(TRUSTED_PROXY_HEADER="HTTP_X_FORWARDED_FOR", TRUSTED_PROXY_COUNT=1):
        assert throttle.client_address(request) == "203.0.113.7"
        assert throttle.client_address(factory.get("/", REMOTE_ADDR="10.0.0.2")) == "10.0.0.2"
        garbled = factory.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="not-an-address")
        assert throttle.client_address(garbled) == "10.0.0.2"
    with override_settings(TRUSTED_PROXY_HEADER="HTTP_X_FORWARDED_FOR", TRUSTED_PROXY_COUNT=2):
        assert throttle.client_address(request) == "6.6.6.6"


def _redis_cache():
    url = os.environ.get("REDIS_URL")
    if not url:
        pytest.skip("REDIS_URL is not set")
    return {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": url,
            "KEY_PREFIX": f"test-sign-in-{uuid.uuid4().hex}",
        }
    }


@pytest.mark.parametrize("cache_kind", ["locmem", "redis"])
@pytest.mark.django_db(transaction=True)
def test_forty_parallel_wrong_passwords_have_at_most_the_limit_checked(monkeypatch, cache_kind):
    caches = _redis_cache() if cache_kind == "redis" else settings.CACHES
    User.objects.create_user("officer", password=PASSWORD, is_staff=True)
    checked = 0
    counter_lock = threading.Lock()
    check_password = User.check_password

    def counting_check(user, raw_password):
        nonlocal checked
        with counter_lock:
            checked += 1
        time.sleep(0.05)  # a real hasher takes this long or longer; the tests' MD5 takes nothing
        return check_password(user, raw_password)

    monkeypatch.setattr(User, "check_password", counting_check)
    attempts = 40
    barrier = threading.Barrier(attempts)
    outcomes: list[int] = []

    def attempt(i):
        try:
            client = Client()
            barrier.wait(timeout=30)
            door = "page" if i % 2 else "admin"  # both doors at once
            response = sign_in(client, door, "officer", f"wrong-{i}")
            with counter_lock:
                outcomes.append(response.status_code)
        finally:
            close_old_connections()

    with override_settings(CACHES=caches, LOGIN_LOCK_SECONDS=60):
        threads = [threading.Thread(target=attempt, args=(i,)) for i in range(attempts)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    assert outcomes == [200] * attempts  # all answered, nobody signed in
    assert 1 <= checked <= settings.LOGIN_FAILURE_LIMIT


def test_a_database_cache_is_reported_as_unfit_for_the_throttle():
    with override_settings(
        CACHES={"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "cache_table"}}
    ):
        assert "core.E001" in {message.id for message in run_checks()}
    assert "core.E001" not in {message.id for message in run_checks()}


def test_short_and_common_passwords_are_refused_and_a_long_uncommon_one_accepted():
    for password in ("Tr4mxq7zk", "password123", "1234567890", "matkhau2024", "Anh-yêu-em!99", "admin@12345"):
        with pytest.raises(ValidationError):
            validate_password(password)
    validate_password("đồi chè Tả Thàng 1987")


def test_the_password_change_form_refuses_a_short_or_common_password(world):
    for password in ("Tr4mxq7zk", "matkhau@123"):
        form = PasswordChangeForm(
            world.officer, {"old_password": PASSWORD, "new_password1": password, "new_password2": password}
        )
        assert not form.is_valid() and "new_password2" in form.errors
