"""Forms that create records carry a one-time key, so a double submit creates one record.

The key is a fresh UUID each time the form is shown (`OneTimeKeyMixin`); the
view hands it to `submit_once` with the service call that creates the record.
The key is stored in the same transaction as the record: a second post with the
same key, sequential or concurrent, gets the first post's record back instead
of a second one (the unique constraint settles the concurrent case).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, models, transaction
from django.utils.translation import gettext_lazy as _

from .models import SubmissionKey

ALREADY_SENT = _("This form was already sent: its record is kept and nothing was added again.")


class OneTimeKeyMixin:
    """Adds the hidden `submission_key` field, a new key each time the form is shown."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["submission_key"] = forms.UUIDField(widget=forms.HiddenInput, required=False,
                                                        initial=uuid.uuid4)


@dataclass
class Submitted:
    record: Any  # the created record (or what the service returned), or the first post's record
    created: bool  # False when the key was already used


class _AlreadyUsed(Exception):
    pass


def _used(user, key) -> SubmissionKey | None:
    return SubmissionKey.objects.filter(user=user, key=key).select_related("content_type").first()


def submit_once(*, user, key: uuid.UUID | None, create: Callable[[], Any]) -> Submitted:
    """Run `create()` unless `key` was already used by `user`; a form without a key creates as before."""
    if key is None:
        return Submitted(create(), True)
    used = _used(user, key)
    if used is not None:
        return Submitted(used.record, False)
    try:
        with transaction.atomic():
            result = create()
            target = result if isinstance(result, models.Model) and result.pk is not None else None
            try:
                with transaction.atomic():
                    SubmissionKey.objects.create(
                        user=user, key=key, object_id=target.pk if target else None,
                        content_type=ContentType.objects.get_for_model(target) if target else None)
            except IntegrityError:
                raise _AlreadyUsed from None  # undoes this post's record with the transaction
    except _AlreadyUsed:
        return Submitted(_used(user, key).record, False)
    return Submitted(result, True)
