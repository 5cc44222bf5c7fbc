"""A task sent through a real Celery worker over Redis, not run eagerly."""

import os

import pytest
import redis
from celery.contrib.testing.worker import start_worker
from celery.result import EagerResult

from config.celery import app
from households.models import CommuneSummary
from households.tasks import refresh_commune_summary

from .world import build_world

BROKER = os.environ.get("TEST_CELERY_BROKER_URL", "redis://127.0.0.1:6379/15")


def redis_available() -> bool:
    try:
        return redis.Redis.from_url(BROKER, socket_connect_timeout=1).ping()
    except redis.RedisError:
        return False


def forget_connections() -> None:
    """Drop the broker pools and result backend Celery cached for the old settings."""
    app._local.__dict__.pop("backend", None)
    app._pool = None
    if "amqp" in app.__dict__:
        app.__dict__["amqp"]._producer_pool = None


@pytest.fixture
def redis_worker():
    if not redis_available():
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis is not reachable at {BROKER}; CI must run this test")
        pytest.skip(f"Redis is not reachable at {BROKER}")
    saved = {key: app.conf[key] for key in ("broker_url", "result_backend", "task_always_eager")}
    app.conf.update(broker_url=BROKER, result_backend=BROKER, task_always_eager=False)
    forget_connections()
    redis.Redis.from_url(BROKER).flushdb()
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
            yield app
    finally:
        app.conf.update(saved)
        forget_connections()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_summary_task_runs_in_a_real_worker_over_redis(redis_worker):
    world = build_world()
    CommuneSummary.objects.all().delete()
    result = refresh_commune_summary.delay(world.tathang.pk)
    assert not isinstance(result, EagerResult)  # it went through the broker
    counts = result.get(timeout=30)
    assert result.successful()
    assert counts["households"] == 1 and counts["members"] == 2 and counts["poor"] == 1
    summary = CommuneSummary.objects.get(commune=world.tathang)
    assert (summary.households, summary.members, summary.poor) == (1, 2, 1)
    # Running it again gives the same figures: the task recounts, it never adds.
    assert refresh_commune_summary.delay(world.tathang.pk).get(timeout=30) == counts
    assert CommuneSummary.objects.get(commune=world.tathang).households == 1
