"""Where django-import-export's admin import keeps an uploaded file between the preview and the confirmation.

Its default storage takes the file's name back from the confirmation form
(`import_file_name`) and joins it to the temporary directory, then reads the
file and deletes it: a crafted name (`../../etc/passwd`, an absolute path,
another user's file) read and deleted any file the server may touch. Here a
name is only ever a random token this storage made, in a directory of its own;
anything else is refused before the disk is touched. `exchange.admin.
ExchangeImportMixin` also checks that the token was handed to the same session.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from pathlib import Path

from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation
from import_export.tmp_storages import BaseStorage

TOKEN = re.compile(r"[0-9a-f]{32}")
MAX_AGE_SECONDS = 24 * 60 * 60  # an upload not confirmed within a day is abandoned


def is_token(name: object) -> bool:
    return isinstance(name, str) and TOKEN.fullmatch(name) is not None


def directory() -> Path:
    path = Path(settings.IMPORT_EXPORT_TMP_DIR)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


class PrivateTempStorage(BaseStorage):
    """A file per upload, named by a random token, in IMPORT_EXPORT_TMP_DIR."""

    def _path(self) -> Path:
        if not is_token(self.name):
            raise SuspiciousFileOperation("Refused temporary import file name")
        return directory() / self.name

    def save(self, data) -> None:
        if not self.name:
            self.name = uuid.uuid4().hex
        if isinstance(data, str):
            data = data.encode(self.encoding or "utf-8")
        descriptor = os.open(self._path(), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)

    def read(self):
        mode = "rb" if "b" in (self.read_mode or "r") else "r"
        with open(self._path(), mode, encoding=None if mode == "rb" else (self.encoding or "utf-8")) as handle:
            return handle.read()

    def remove(self) -> None:
        self._path().unlink(missing_ok=True)


def remove_old_files(max_age: int = MAX_AGE_SECONDS) -> int:
    """Remove uploads never confirmed (older than max_age seconds); returns how many."""
    limit, removed = time.time() - max_age, 0
    for path in directory().iterdir():
        if is_token(path.name) and path.is_file() and path.stat().st_mtime < limit:
            path.unlink(missing_ok=True)
            removed += 1
    return removed
