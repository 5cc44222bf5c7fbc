from celery import shared_task

from . import services


@shared_task(acks_late=True)
def check_import(batch_id: int) -> str:
    """Check an uploaded file. Does nothing for a batch that is past this step."""
    return services.check_batch(batch_id).status


@shared_task(acks_late=True)
def run_import(batch_id: int) -> str:
    """Import a confirmed file. A second delivery finds the batch no longer queued and stops."""
    return services.import_batch(batch_id).status
