"""Background steps of an import, and the housekeeping of stored files.

Retry policy, the same for each task here: `acks_late` because each is
idempotent (a second delivery finds the batch past its step, or takes over a
stale one from a clean slate), so a message is acknowledged only once the work
is done and a worker machine that disappears does not lose it.
`reject_on_worker_lost` stays off: a check or an import that killed its worker
process (a file too large for its memory) would kill the next one too; the
batch is marked failed by the stale-run reclaim instead and the user decides.
No automatic retries (`max_retries=0`): a failure is recorded on the batch with
its reason, and running it again is the user's choice.
"""

from celery import shared_task

from . import services

POLICY = {"acks_late": True, "reject_on_worker_lost": False, "max_retries": 0}


@shared_task(**POLICY)
def check_import(batch_id: int) -> str:
    """Check an uploaded file. Does nothing for a batch past this step or whose check is under way."""
    return services.check_batch(batch_id).status


@shared_task(**POLICY)
def run_import(batch_id: int) -> str:
    """Import a confirmed file. A second delivery finds the batch no longer queued and stops."""
    return services.import_batch(batch_id).status


@shared_task(**POLICY)
def reclaim_stale_imports() -> int:
    """Beat: mark failed the checks and imports left waiting or running by a worker that ended."""
    return services.reclaim_stale_batches()


@shared_task(**POLICY)
def remove_expired_files() -> dict[str, int]:
    """Beat: remove the import files, and the admin's temporary import files, past their retention period."""
    from .tmp_storage import remove_old_files

    return {"imports": services.remove_expired_files(), "temporary": remove_old_files()}
