"""Login throttling.

Failures are counted in the cache per user name and per client address; past
LOGIN_FAILURE_LIMIT within LOGIN_LOCK_SECONDS further attempts are refused
without checking the password, so guessing is slow whatever the user name.
"""

from django.conf import settings
from django.core.cache import cache

from .text import fold


def _keys(username: str, address: str) -> list[str]:
    return [f"login-fail:user:{fold(username)}", f"login-fail:addr:{address}"]


def is_locked(username: str, address: str) -> bool:
    limit = settings.LOGIN_FAILURE_LIMIT
    return any((cache.get(key) or 0) >= limit for key in _keys(username, address))


def record_failure(username: str, address: str) -> None:
    for key in _keys(username, address):
        cache.add(key, 0, timeout=settings.LOGIN_LOCK_SECONDS)
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=settings.LOGIN_LOCK_SECONDS)


def clear(username: str, address: str) -> None:
    cache.delete(_keys(username, address)[0])
