"""Bad input answers with a message, never a server error."""

import pytest
from django.urls import reverse

from core.pagination import encode_cursor

from .test_url_matrix import (
    ADMIN_MODEL_URL,
    APP_URLS,
    READ_ONLY_ADMIN_PAGES,
    SESSION_URLS,
    all_urls,
    cases,
    client_for,
    fill,
    form_body,
    matrix_key,
    matrix_world,  # noqa: F401  (the fixture, used by name)
    object_for,
)

HUGE = "99999999999999999999"
# What the pages read from their address (cursor, page, rows per page, year, units, kind, format…),
# in rounds: every name given, in each round, a value no form offers. A round sends them together
# (a page reads few of them, and a bad one is never an excuse to read the others wrongly).
NAMES = ("page", "n", "per_page", "year", "commune", "village", "unit", "household", "round", "program",
         "within", "kind", "format", "stage", "order", "status", "classification", "archived", "ethnic_minority",
         "commune_code", "p", "o")
ROUNDS = [
    dict.fromkeys(NAMES, HUGE) | {"after": encode_cursor([int(HUGE), "0001"])},
    dict.fromkeys(NAMES, "-1") | {"before": encode_cursor([-1, "x" * 400])},
    dict.fromkeys(NAMES, "nope") | {"after": "garbage", "q": " ".join(["giang"] * 500)},
    dict.fromkeys(NAMES, "") | {"after": encode_cursor(["a", 1]), "q": "x" * 3000},
    {"last": "1", "n": HUGE, "before": "%%%", "e": "1", "all": ""},
]


def _urls(world, role):
    """Every GET address the project answers (admin lists, not each record), objects inside the area."""
    for route, name in all_urls():
        key = matrix_key(route, name)
        if key == "admin-model":
            match = ADMIN_MODEL_URL.match(route)
            if match["rest"] != "":
                continue
            yield "/" + fill(route, object_for(match["model"], world, role, True))
        elif key in APP_URLS:
            make_kwargs = APP_URLS[key][0]
            yield reverse(key, kwargs=make_kwargs(world, role, True) if make_kwargs else {})


@pytest.mark.parametrize("role", ["officer", "superuser"])
def test_no_query_parameter_makes_a_server_error(matrix_world, client, role):  # noqa: F811
    client = client_for(client, matrix_world, role)
    client.raise_request_exception = False
    failures = []
    for url in _urls(matrix_world, role):
        for number, bad in enumerate(ROUNDS):
            status = client.get(url, bad).status_code
            if status >= 500:
                failures.append(f"{role} GET {url} with the bad values of round {number}: {status}")
    assert failures == [], "\n".join(failures)


def test_no_number_in_an_address_makes_a_server_error(matrix_world, client):  # noqa: F811
    """/households/99999999999999999999/ and the like: not found, not a crash."""
    client = client_for(client, matrix_world, "superuser")
    client.raise_request_exception = False
    failures = []
    for route, name in all_urls():
        if matrix_key(route, name) not in APP_URLS or APP_URLS[name][0] is None:
            continue
        kwargs = APP_URLS[name][0](matrix_world, "superuser", True)
        for key, value in kwargs.items():
            if not isinstance(value, int):
                continue
            for bad in (int(HUGE), 0):
                url = reverse(name, kwargs={**kwargs, key: bad})
                for method in (client.get, client.post):
                    status = method(url).status_code
                    if status >= 500:
                        failures.append(f"{method.__name__.upper()} {url}: {status}")
    assert failures == [], "\n".join(failures)


def _huge_numbers(body: dict[str, list[str]]) -> dict[str, list[str]]:
    """The form as sent, with every number (and every empty box) made a 20-digit number."""
    skip = {"csrfmiddlewaretoken"}
    return {name: [HUGE if (not v or v.lstrip("-").isdigit()) and name not in skip else v for v in values]
            for name, values in body.items()}


@pytest.mark.parametrize("role", ["officer", "reviewer", "superuser"])
def test_no_form_sent_with_huge_numbers_makes_a_server_error(matrix_world, client, role):  # noqa: F811
    """Each page's own form, every number and empty box filled with 99999999999999999999."""
    client = client_for(client, matrix_world, role)
    client.raise_request_exception = False
    failures = []
    for case in cases(matrix_world, role):
        if not case.inside or case.expected != 200 or case.key in SESSION_URLS:
            continue
        if case.admin is not None and case.admin[2] in READ_ONLY_ADMIN_PAGES:
            continue
        body = form_body(client.get(case.url))
        if not body:
            continue
        status = client.post(case.url, _huge_numbers(body)).status_code
        if status >= 500:
            failures.append(f"{role} POST {case.url} with huge numbers: {status}")
        if "_auth_user_id" not in client.session:
            client_for(client, matrix_world, role)
    assert failures == [], "\n".join(failures)
