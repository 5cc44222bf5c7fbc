from celery import shared_task

from . import summaries


@shared_task(acks_late=True)
def refresh_commune_summary(commune_id: int) -> dict:
    """Recount one commune from its rows. Safe to run twice: it overwrites, never adds."""
    return summaries.refresh_commune(commune_id)
