"""An upload is confirmed, cancelled or checked again only by someone whose role may import (read again)."""

import pytest
from django.core.exceptions import PermissionDenied
from django.core.files.base import ContentFile
from django.urls import reverse

from exchange import services
from exchange.models import ImportBatch

CSV = "Mã xã,Mã hộ,Thôn,Họ tên chủ hộ\n02794,0001,Thôn Tả Thàng,Giàng A Páo\n".encode()


def _batch(user):
    return ImportBatch.objects.create(created_by=user, file=ContentFile(CSV, name="ds.csv"), file_name="ds.csv",
                                      sha256="0" * 64, size=len(CSV), status=ImportBatch.Status.VALIDATED)


@pytest.mark.parametrize("action", ["confirm", "cancel", "recheck"])
def test_an_uploader_moved_to_a_reviewers_post_cannot_confirm_cancel_or_recheck_the_upload(world, client, settings,
                                                                                    tmp_path, action):
    settings.MEDIA_ROOT = tmp_path
    batch = _batch(world.officer)
    world.officer.role, world.officer.unit = "reviewer", world.district
    world.officer.save(update_fields=["role", "unit"])
    client.force_login(world.officer)
    response = client.post(reverse(f"exchange:{action}", args=[batch.pk]))
    assert response.status_code in (403, 404)  # the batch's communes are no longer theirs: not found
    batch.refresh_from_db()
    assert batch.status == ImportBatch.Status.VALIDATED
    with pytest.raises(PermissionDenied):
        services.confirm_batch(user=world.officer, batch=batch, valid_rows_only=False)
    with pytest.raises(PermissionDenied):
        services.recheck_batch(user=world.officer, batch=batch)
