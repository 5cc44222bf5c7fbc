from django.conf import settings
from django.core.checks import Error, Warning, register

from .throttle import ATOMIC_INCR_CACHES


@register()
def sign_in_throttle_cache(app_configs, **kwargs):
    """The sign-in throttle reserves attempts with the cache's incr, which must be atomic."""
    backend = settings.CACHES.get("default", {}).get("BACKEND", "")
    if backend in ATOMIC_INCR_CACHES:
        return []
    return [
        Error(
            f"The default cache ({backend}) does not increment atomically; the sign-in throttle needs it to.",
            hint="Use Redis (REDIS_URL) or, on one process, the local-memory cache.",
            id="core.E001",
        )
    ]


@register(deploy=True)
def sign_in_throttle_shared_cache(app_configs, **kwargs):
    """With the local-memory cache every process counts on its own: N processes, N times the limit."""
    backend = settings.CACHES.get("default", {}).get("BACKEND", "")
    if backend != "django.core.cache.backends.locmem.LocMemCache":
        return []
    return [
        Warning(
            "The sign-in throttle counts in the local-memory cache, which each server process keeps for itself.",
            hint="Set REDIS_URL so that every process shares one count.",
            id="core.W001",
        )
    ]
