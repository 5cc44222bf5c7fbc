"""Keeping the rollups current: mark a commune dirty after a commit, recompute it in a task.

Every change that matters (a household saved or archived, an import, a survey, a
decision) already queues `households.services.queue_summary_refresh` on commit;
its flush calls `mark_dirty` for the same communes. Without a broker the task
runs in the committing process at once (CELERY_TASK_ALWAYS_EAGER), as every
other task does.
"""

from collections.abc import Iterable

from celery import shared_task
from django.db import OperationalError
from django.utils import timezone

from . import compute
from .models import DirtyCommune, Rollup

COMMUNES_A_PASS = 100

# Retry policy. Every task here is idempotent (recounts overwrite from the rows; a
# pack is claimed under its row lock), so each is acknowledged late: a worker machine
# that disappears does not lose it. `reject_on_worker_lost` stays off: a task that
# killed its worker process would only kill the next one (a lost recount is caught by
# the next mark or the nightly reconciliation; a lost pack is taken over when stale).
# Recounts retry a few times on the database's passing refusals (a lock wait, a
# dropped connection); a pack records its failure for the user instead.
RECOUNT_POLICY = {"acks_late": True, "reject_on_worker_lost": False, "autoretry_for": (OperationalError,),
                  "max_retries": 3, "retry_backoff": 30, "retry_jitter": True}
PACK_POLICY = {"acks_late": True, "reject_on_worker_lost": False, "max_retries": 0}


def years_to_mark(commune_id: int) -> set[int]:
    """A change may alter every year kept for the commune (persons are today's members), and this year."""
    years = set(Rollup.objects.filter(unit_id=commune_id).values_list("year", flat=True).distinct())
    years.add(timezone.localdate().year)
    return years


def mark_dirty(commune_ids: Iterable[int], years: Iterable[int] | None = None) -> None:
    """Queue communes' rollups for recomputation (called after the commit of a change), then the task."""
    now = timezone.now()
    for commune_id in sorted(set(commune_ids)):
        for year in sorted(set(years) if years is not None else years_to_mark(commune_id)):
            # A later mark moves marked_at forward, so a run already under way does not settle it.
            DirtyCommune.objects.update_or_create(commune_id=commune_id, year=year, defaults={"marked_at": now})
    refresh_dirty_rollups.delay()


@shared_task(**RECOUNT_POLICY)
def refresh_dirty_rollups(limit: int = 500) -> int:
    """Recompute the dirty communes (oldest marks first) and the units above them.

    Idempotent: each commune is recomputed from its rows under its lock and its
    mark removed only if it was made before that run began, so running twice, or
    two workers at once, gives the same figures and loses no change.
    """
    dirty = list(DirtyCommune.objects.order_by("marked_at").values_list("commune_id", "year")[:limit])
    by_year: dict[int, set[int]] = {}
    for commune_id, year in dirty:
        by_year.setdefault(year, set()).add(commune_id)
    for year, communes in sorted(by_year.items()):
        # Many communes at once (after an import) are counted in set-based passes, not one by one.
        ordered = sorted(communes)
        for start in range(0, len(ordered), COMMUNES_A_PASS):
            compute.recompute_communes(ordered[start:start + COMMUNES_A_PASS], year, parents=False)
        compute.recompute_parents(communes, year)
    if len(dirty) == limit:
        refresh_dirty_rollups.delay(limit)
    return len(dirty)


@shared_task(**RECOUNT_POLICY)
def reconcile_rollups() -> dict[int, int]:
    """Nightly: recompute every year of every commune from the rows, whatever was marked."""
    return {year: compute.recompute_all(year) for year in compute.report_years()}


@shared_task(**PACK_POLICY)
def prepare_report_pack(pack_id: int) -> str:
    """Build a report pack's workbook. A second delivery finds the pack done or under way and does nothing."""
    from . import pack

    prepared = pack.run(pack_id)
    return prepared.status if prepared is not None else ""


@shared_task(**PACK_POLICY)
def remove_expired_packs() -> int:
    """Beat: remove the workbooks of report packs past the retention period (the records stay)."""
    from . import pack

    return pack.remove_expired_files()
