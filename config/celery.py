"""The Celery application.

Without a broker configured (the default for `make run`), settings make every
task run eagerly in the calling process, so nothing else has to be started.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.development")

app = Celery("poverty_review")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
