"""Sign-in throttling: one throttle for every way to sign in.

`ThrottledModelBackend` is the project's only authentication backend, so the
sign-in page, the admin's sign-in page and anything that later calls
`django.contrib.auth.authenticate` all pass through the same counters.

Three counters, each in the cache and each with its own limit:

- a user name from one client address (LOGIN_FAILURE_LIMIT, 5): the lock a
  person sees after mistyping;
- a user name from every address (LOGIN_USER_FAILURE_LIMIT, 10): caps guessing
  spread over many addresses, while a stranger at one address cannot lock the
  real user out of their own office with five wrong passwords;
- one address over every user name (LOGIN_ADDRESS_FAILURE_LIMIT, 50; 0 turns it
  off): stops trying one password on many accounts, set well above what an
  office of officers behind one address mistypes in a lock period.

An attempt first reserves a place on every counter with an atomic increment and
only then is the password checked. Checking first and counting afterwards lets
every attempt that arrives before the first failure is counted through: forty
parallel attempts against a limit of five had twenty passwords checked. With
the reservation at most LIMIT passwords are ever checked per lock period. A
refused attempt gives its places back, so it neither counts as a failure nor
extends the lock; a success clears the user name's counters; a failure keeps its
places and holds each counter for LOGIN_LOCK_SECONDS after it.

The increment must be atomic in the cache: Redis (INCR) and the local-memory
cache (a lock around incr) are; the database and file caches read and then
write, and are not supported for this (a system check says so).
"""

import contextlib
import hashlib
import ipaddress
import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.cache import cache
from django.core.exceptions import PermissionDenied

from .text import fold

logger = logging.getLogger(__name__)

ATOMIC_INCR_CACHES = (
    "django.core.cache.backends.redis.RedisCache",
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.memcached.PyMemcacheCache",
    "django.core.cache.backends.memcached.PyLibMCCache",
)
LOCKED_ATTRIBUTE = "sign_in_locked"
_UNKNOWN = "-"


def client_address(request) -> str:
    """The client's address: REMOTE_ADDR, or behind a reverse proxy the configured header.

    The header is honoured only when TRUSTED_PROXY_HEADER names it; anyone can send
    X-Forwarded-For. With TRUSTED_PROXY_COUNT proxies each appending the address it
    saw, the client is the entry that many places from the right; entries further
    left were written by the client and are not trusted.
    """
    if request is None:
        return _UNKNOWN
    remote = request.META.get("REMOTE_ADDR") or _UNKNOWN
    header = settings.TRUSTED_PROXY_HEADER
    if not header:
        return remote
    entries = [entry.strip() for entry in request.META.get(header, "").split(",") if entry.strip()]
    count = max(1, settings.TRUSTED_PROXY_COUNT)
    if len(entries) < count:
        return remote  # the request did not come through every trusted proxy
    try:
        return str(ipaddress.ip_address(entries[-count]))
    except ValueError:
        return remote


def _counters(username: str, address: str) -> list[tuple[str, int]]:
    # Folded (case and accents) and hashed: "Officer" and "officer" share a count,
    # and a long or odd user name makes a key of fixed length.
    user = hashlib.sha256(fold(username).encode()).hexdigest()[:32]
    counters = [(f"login-fail:pair:{user}:{address}", settings.LOGIN_FAILURE_LIMIT)]
    if settings.LOGIN_USER_FAILURE_LIMIT:
        counters.append((f"login-fail:user:{user}", settings.LOGIN_USER_FAILURE_LIMIT))
    if settings.LOGIN_ADDRESS_FAILURE_LIMIT:
        counters.append((f"login-fail:addr:{address}", settings.LOGIN_ADDRESS_FAILURE_LIMIT))
    return counters


def _increment(key: str) -> int:
    for _ in range(3):
        cache.add(key, 0, timeout=settings.LOGIN_LOCK_SECONDS)
        try:
            return cache.incr(key)
        except ValueError:  # expired or cleared between add and incr: add it again
            continue
    return 10**9  # the cache is failing; refuse rather than let the attempt through


def _give_back(key: str) -> None:
    with contextlib.suppress(ValueError):  # expired meanwhile: nothing to give back
        cache.decr(key)


def reserve(username: str, address: str) -> bool:
    """Take one attempt on every counter, or none: False when a counter is at its limit."""
    taken: list[str] = []
    for key, limit in _counters(username, address):
        if _increment(key) > limit:
            for held in (*taken, key):
                _give_back(held)
            return False
        taken.append(key)
    return True


def release(username: str, address: str) -> None:
    """Give back a reserved attempt that was never decided."""
    for key, _limit in _counters(username, address):
        _give_back(key)


def record_failure(username: str, address: str) -> None:
    """Keep the attempt's places and hold every counter for the lock period from now."""
    for key, _limit in _counters(username, address):
        cache.touch(key, timeout=settings.LOGIN_LOCK_SECONDS)


def record_success(username: str, address: str) -> None:
    """Clear the user name's counters and give back the address's place: a success is no
    failure, but it must not reset the count of an address trying many user names."""
    for key, _limit in _counters(username, address):
        if ":addr:" in key:
            _give_back(key)
        else:
            cache.delete(key)


class ThrottledModelBackend(ModelBackend):
    """Django's user-name-and-password backend behind the throttle.

    A refused attempt raises PermissionDenied, which stops `authenticate` from trying
    any other backend, and marks the request so the form can say why.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        if username is None or password is None:
            return None
        address = client_address(request)
        if not reserve(username, address):
            if request is not None:
                setattr(request, LOCKED_ATTRIBUTE, True)
            logger.warning("Sign-in refused while locked: user name %r from %s", username, address)
            raise PermissionDenied
        try:
            user = super().authenticate(request, username=username, password=password, **kwargs)
        except BaseException:  # the database failed, not the password: the attempt counts for nothing
            release(username, address)
            raise
        if user is None:
            record_failure(username, address)
        else:
            record_success(username, address)
        return user
