"""Keyset pagination for long lists: every page costs the same, however deep.

A province's household list holds a million rows. Django's Paginator counts them
all on every request and reaches page N with OFFSET, reading every row before it;
here a page is "the next `per_page` rows after this one" in a unique ordering
that an index follows, and the count stops at `count_cap` (shown as "more than").

The cursor in the address is the last (or first) row's ordering key, encoded as
URL-safe base64 of a JSON list. A cursor that does not decode, or does not fit the
ordering (a value of the wrong type, an integer no database column holds), is ignored:
the first page is shown with a message (`KeysetPage.cursor_ignored`), never an error.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from functools import reduce
from operator import or_
from typing import Any

from django.db.models import Q, QuerySet

from .params import INT_MAX, positive_int

COUNT_CAP = 10_000
# The range of a 64-bit signed integer column: a larger number in a crafted cursor would
# make the database driver raise (SQLite: OverflowError) instead of finding no row.
INT_MIN = -INT_MAX - 1


def encode_cursor(values: list[Any]) -> str:
    raw = json.dumps(values, separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str | None, size: int, types: tuple[type, ...] | None = None) -> list[Any] | None:
    """The key values of a cursor, or None when it is missing or malformed.

    `types` (one per key, int or str) are the types the ordering's columns hold.
    """
    if not token or len(token) > 512:
        return None
    try:
        values = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(values, list) or len(values) != size:
        return None
    if not all(isinstance(v, (int, str)) and not isinstance(v, bool) for v in values):
        return None
    if any(isinstance(v, int) and not INT_MIN <= v <= INT_MAX for v in values):
        return None
    if types is not None and not all(isinstance(v, kind) for v, kind in zip(values, types, strict=True)):
        return None
    return values


def _beyond(keys: tuple[str, ...], values: list[Any], lookup: str) -> Q:
    """Rows strictly after (`gt`) or before (`lt`) `values` in the order of `keys`.

    (a, b) > (x, y) is written as a > x OR (a = x AND b > y), plus a >= x so that
    the database bounds its index scan on the first key.
    """
    branches = []
    for i, key in enumerate(keys):
        equal = dict(zip(keys[:i], values[:i], strict=True))
        branches.append(Q(**equal, **{f"{key}__{lookup}": values[i]}))
    bound = Q(**{f"{keys[0]}__{lookup}e": values[0]})
    return bound & reduce(or_, branches)


@dataclass
class KeysetPage:
    rows: list
    per_page: int
    number: int | None
    has_previous: bool
    has_next: bool
    count: int
    count_is_exact: bool
    first_cursor: str = ""
    last_cursor: str = ""
    links: dict[str, str] = field(default_factory=dict)
    # The address carried a cursor that did not fit: the first page is shown.
    cursor_ignored: bool = False

    def __iter__(self):
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def has_other_pages(self) -> bool:
        return self.has_previous or self.has_next

    @property
    def num_pages(self) -> int | None:
        if not self.count_is_exact:
            return None
        return max(1, -(-self.count // self.per_page))


class KeysetPaginator:
    """Pages of `queryset` ordered by `keys` (field names that together are unique)."""

    def __init__(self, queryset: QuerySet, keys: tuple[str, ...], per_page: int, count_cap: int = COUNT_CAP):
        self.queryset = queryset.order_by(*keys)
        self.keys = keys
        self.per_page = per_page
        self.count_cap = count_cap
        self.types = tuple(_python_type(queryset.model, key) for key in keys)

    def _count(self) -> tuple[int, bool]:
        # Counting stops at the cap: a LIMIT inside the count reads at most cap + 1 rows.
        counted = self.queryset.order_by()[: self.count_cap + 1].count()
        return min(counted, self.count_cap), counted <= self.count_cap

    def _key(self, row) -> list[Any]:
        return [getattr(row, key) for key in self.keys]

    def page(self, params) -> KeysetPage:
        """The page asked for by `params` (a QueryDict): after=, before=, last=1, n= (the page's number)."""
        size = self.per_page
        after = decode_cursor(params.get("after"), len(self.keys), self.types)
        before = None if after else decode_cursor(params.get("before"), len(self.keys), self.types)
        ignored = bool((params.get("after") and not after) or (params.get("before") and not before and not after))
        last = not after and not before and params.get("last") == "1"
        number = positive_int(params.get("n"), 10**9 - 1)
        count, exact = self._count()
        descending = [f"-{key}" for key in self.keys]
        if after:
            rows = list(self.queryset.filter(_beyond(self.keys, after, "gt"))[: size + 1])
            has_previous, has_next = True, len(rows) > size
            rows = rows[:size]
        elif before or last:
            backwards = self.queryset.order_by(*descending)
            if before:
                backwards = backwards.filter(_beyond(self.keys, before, "lt"))
            rows = list(backwards[: size + 1])
            has_previous, has_next = len(rows) > size, bool(before)
            rows = rows[:size][::-1]
            if last:
                number = self._last_number(count, exact)
        else:
            rows = list(self.queryset[: size + 1])
            has_previous, has_next = False, len(rows) > size
            rows = rows[:size]
            number = 1
        if not has_previous:
            number = 1
        page = KeysetPage(rows=rows, per_page=size, number=number, has_previous=has_previous,
                          has_next=has_next, count=count, count_is_exact=exact, cursor_ignored=ignored)
        if rows:
            page.first_cursor = encode_cursor(self._key(rows[0]))
            page.last_cursor = encode_cursor(self._key(rows[-1]))
        return page

    def _last_number(self, count: int, exact: bool) -> int | None:
        return max(1, -(-count // self.per_page)) if exact else None


def _python_type(model, key: str) -> type:
    """int for an integer column (a key, a foreign key), else str."""
    from django.db import models

    field_ = model._meta.get_field(key.removesuffix("_id"))
    if isinstance(field_, models.ForeignKey):
        field_ = field_.target_field
    return int if isinstance(field_, (models.IntegerField, models.AutoField)) else str


def page_links(page: KeysetPage, query: str) -> dict[str, str]:
    """Query strings of the first, previous, next and last pages, keeping the list's filters."""
    prefix = f"{query}&" if query else ""
    links = {}
    if page.has_previous:
        links["first"] = f"?{query}"
        number = f"&n={page.number - 1}" if page.number and page.number > 1 else ""
        links["previous"] = f"?{prefix}before={page.first_cursor}{number}"
    if page.has_next:
        number = f"&n={page.number + 1}" if page.number else ""
        links["next"] = f"?{prefix}after={page.last_cursor}{number}"
        links["last"] = f"?{prefix}last=1"
    return links
