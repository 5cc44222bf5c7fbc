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
