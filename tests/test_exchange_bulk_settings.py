"""The bulk load's planner and memory settings last for its own statements only."""

import pytest
from django.db import connection

from exchange import bulk
from exchange.models import ImportBatch

from .test_exchange_bulk import _file
from .test_exchange_import import run

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="the server's bulk load is PostgreSQL's")


def _settings() -> tuple[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('work_mem'), current_setting('enable_nestloop')")
        return cursor.fetchone()


def test_the_settings_of_the_bulk_statements_are_put_back(world, monkeypatch):
    monkeypatch.setattr(bulk, "LARGE_FILE_BYTES", 0)
    monkeypatch.setattr(bulk, "HOUSEHOLDS_PER_STATEMENT", 1)
    before = _settings()
    # The test's own transaction encloses the import's: SET LOCAL would outlive it.
    batch = run(world.officer, _file(["S-01", "S-02"]))
    assert batch.status == ImportBatch.Status.DONE and batch.created == 10
    assert _settings() == before
