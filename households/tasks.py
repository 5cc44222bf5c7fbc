from celery import shared_task
from django.db import OperationalError

from . import summaries


# Idempotent (it overwrites, never adds), so acknowledged late and retried a few times on the
# database's passing refusals; not re-queued when it killed its worker (the next change or
# the nightly reconciliation recounts the commune anyway).
@shared_task(acks_late=True, reject_on_worker_lost=False, autoretry_for=(OperationalError,), max_retries=3,
             retry_backoff=30, retry_jitter=True)
def refresh_commune_summary(commune_id: int) -> dict:
    """Recount one commune from its rows. Safe to run twice: it overwrites, never adds."""
    return summaries.refresh_commune(commune_id)
