import pytest

from .world import build_world


@pytest.fixture
def world(db):
    return build_world()


@pytest.fixture
def login(client):
    """Sign a user in on the test client and return the client."""

    def _login(user):
        client.force_login(user)
        return client

    return _login


@pytest.fixture(autouse=True)
def english_messages():
    """Service and validator messages in English, so tests read the same whatever
    language the catalogue holds; pages choose their language per request."""
    from django.utils import translation

    with translation.override("en"):
        yield


@pytest.fixture(autouse=True)
def empty_cache():
    """Login throttling counts live in the cache; no test inherits another's."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()
