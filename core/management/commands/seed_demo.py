"""`manage.py seed_demo`: fill the database with demo data (run by `make run`).

Thin command: each app that has demo data provides a `demo.build(stdout)`
builder; they run here in order, in one transaction, and each one is
idempotent (a second run adds nothing and resets no password).
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy


class Command(BaseCommand):
    help = gettext_lazy(
        "Create the demo data: the 2021 map if missing, Lào Cai households in Mường Khương and Bát Xát, "
        "and the demo users (password demo12345). Safe to re-run: nothing is added twice."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        from households import demo as households_demo

        # Later apps append their builders here (after the households they refer to).
        builders = [households_demo]
        started = time.monotonic()
        try:
            with transaction.atomic():
                for builder in builders:
                    builder.build(self.stdout)
        except households_demo.DemoError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(
            _("Demo data ready in %(seconds).1f s.") % {"seconds": time.monotonic() - started}
        ))
