from django.conf import settings
from django.core.checks import Error, register

from .throttle import ATOMIC_INCR_CACHES


@register()
def sign_in_throttle_cache(app_configs, **kwargs):
    """The sign-in throttle reserves attempts with the cache's incr, which must be atomic."""
    backend = settings.CACHES.get("default", {}).get("BACKEND", "")
    if backend in ATOMIC_INCR_CACHES:
        return []
    return [Error(
        f"The default cache ({backend}) does not increment atomically; the sign-in throttle needs it to.",
        hint="Use Redis (REDIS_URL) or, on one process, the local-memory cache.",
        id="core.E001",
    )]
