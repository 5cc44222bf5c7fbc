"""The household list's keyset pages: every row once, in order, both ways; a capped count."""

from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse

from core import pagination
from core.pagination import decode_cursor, encode_cursor
from households.models import Household


def _bulk_households(world, commune, village, count, prefix):
    Household.objects.bulk_create([
        Household(commune=commune, village=village, code=f"{prefix}{i:04d}", head_name=f"Hộ {i}",
                  area="rural", search_text=f"{prefix}{i:04d} ho {i}")
        for i in range(count)
    ])


def _expected(user):
    return list(Household.objects.for_user(user).filter(is_archived=False).order_by("commune_id", "code"))


def _follow(client, link: str) -> dict:
    return {key: values[0] for key, values in parse_qs(urlsplit(link).query).items()}


@pytest.mark.parametrize("bad", ["", "!!!", "e30", encode_cursor([1]), encode_cursor([True, "x"]),
                                 encode_cursor([{"a": 1}, "x"]), "A" * 600])
def test_a_malformed_cursor_decodes_to_nothing(bad):
    assert decode_cursor(bad, 2) is None


def test_a_cursor_round_trips_vietnamese_text():
    assert decode_cursor(encode_cursor([12, "Bản Phố 01"]), 2) == [12, "Bản Phố 01"]


def test_walking_next_then_previous_visits_every_household_once_in_order(world, login):
    _bulk_households(world, world.tathang, world.village, 60, "7")
    client = login(world.province_admin)
    expected = _expected(world.province_admin)
    url = reverse("households:list")
    seen, numbers, params = [], [], {}
    while True:
        page = client.get(url, params).context["page"]
        assert len(page) <= 25
        seen.extend(page)
        numbers.append(page.number)
        if not page.has_next:
            break
        params = _follow(client, page.links["next"])
    assert seen == expected
    assert numbers == list(range(1, len(numbers) + 1))
    assert page.num_pages == len(numbers)
    # And back again from the last page.
    back = list(page)
    while page.has_previous:
        page = client.get(url, _follow(client, page.links["previous"])).context["page"]
        back = list(page) + back
    assert back == expected
    assert page.number == 1


def test_the_last_page_link_shows_the_tail_with_its_number(world, login):
    _bulk_households(world, world.tathang, world.village, 60, "7")
    client = login(world.officer)
    expected = _expected(world.officer)
    page = client.get(reverse("households:list"), {"last": "1"}).context["page"]
    assert list(page) == expected[-25:]
    assert not page.has_next and page.has_previous
    assert page.number == page.num_pages == -(-len(expected) // 25)


def test_filters_survive_paging(world, login):
    _bulk_households(world, world.tathang, world.village, 40, "7")
    client = login(world.province_admin)
    first = client.get(reverse("households:list"), {"commune": world.tathang.pk, "per_page": 25}).context["page"]
    params = _follow(client, first.links["next"])
    assert params["commune"] == str(world.tathang.pk) and params["per_page"] == "25", params
    assert {h.commune_id for h in first} == {world.tathang.pk}
    second = client.get(reverse("households:list"), params).context["page"]
    assert {h.commune_id for h in second} == {world.tathang.pk}
    assert not set(first) & set(second)


def test_a_broken_cursor_shows_the_first_page(world, login):
    client = login(world.officer)
    response = client.get(reverse("households:list"), {"after": "not-a-cursor", "n": "x"})
    assert response.status_code == 200
    assert response.context["page"].number == 1
    assert list(response.context["page"]) == _expected(world.officer)[:25]


def test_a_cursor_never_reaches_outside_the_area(world, login):
    outside = world.household_outside
    client = login(world.officer)
    page = client.get(reverse("households:list"),
                      {"after": encode_cursor([outside.commune_id - 1, ""])}).context["page"]
    assert outside not in list(page)


def test_the_count_stops_at_the_cap_and_says_so(world, login, monkeypatch):
    _bulk_households(world, world.tathang, world.village, 30, "7")
    monkeypatch.setattr(pagination, "COUNT_CAP", 20)
    monkeypatch.setattr(pagination.KeysetPaginator.__init__, "__defaults__", (20,))
    client = login(world.officer)
    response = client.get(reverse("households:list"))
    page = response.context["page"]
    assert page.count == 20 and not page.count_is_exact and page.num_pages is None
    assert "20" in response.content.decode()
    # The last page has no number when the total is unknown, but still holds the tail.
    tail = client.get(reverse("households:list"), {"last": "1"}).context["page"]
    assert tail.number is None
    assert list(tail) == _expected(world.officer)[-25:]

