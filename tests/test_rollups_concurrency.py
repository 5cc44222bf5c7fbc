"""Rollups recomputed at once from several connections (PostgreSQL): serialised by the
commune's advisory lock, they never double count. Apart from tests/test_rollups.py because
that module holds the demo in one open transaction."""

import threading

import pytest
from django.db import connection
from django.utils import timezone

from reports import compute
from reports.models import FIGURES, Rollup


@pytest.mark.django_db(transaction=True)
def test_concurrent_recomputations_of_one_commune_never_double_count(world):
    if connection.vendor != "postgresql":
        pytest.skip("advisory locks between connections are exercised on PostgreSQL")
    year = timezone.localdate().year
    commune = world.household.commune
    compute.recompute_commune(commune.pk, year)
    expected = {r.stage: {n: getattr(r, n) for n in FIGURES} for r in Rollup.objects.filter(unit=commune, year=year)}
    errors = []

    def run():
        try:
            for _ in range(3):
                compute.recompute_commune(commune.pk, year)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    rows = Rollup.objects.filter(unit=commune, year=year)
    assert rows.count() == 2
    assert {r.stage: {n: getattr(r, n) for n in FIGURES} for r in rows} == expected
    assert Rollup.objects.filter(unit=commune.parent, year=year).count() == 2
