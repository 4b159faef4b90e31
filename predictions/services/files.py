"""Stored files whose life follows the database transaction that records them.

A file is written before the row that names it commits (so a committed row always has its file), and is
removed again when that transaction, or the savepoint it was written in, rolls back: a failed upload or
heatmap leaves no patient image outside the database. A crash between the write and the commit can
still leave one; `manage.py storage_check` finds and removes those.
"""

from __future__ import annotations

import logging
import weakref

from django.core.files.base import ContentFile
from django.core.files.storage import Storage
from django.db import transaction
from django.db.models.fields.files import FieldFile

logger = logging.getLogger(__name__)


class FileCommitMarker:
    """Queued with on_commit: called if the transaction commits; dropped, unrun, if it rolls back."""

    def __init__(self, state: dict):
        self.state = state

    def __call__(self) -> None:
        self.state["committed"] = True


def _remove_unless_committed(storage: Storage, name: str, state: dict) -> None:
    if state["committed"]:
        return
    try:
        storage.delete(name)
    except Exception:  # the orphan check finds it later
        logger.exception("could not remove %s after its transaction rolled back", name)


def _delete_on_rollback(storage: Storage, name: str) -> None:
    """Remove `name` once the current transaction (or savepoint) is rolled back instead of committed.

    Django has no rollback hook, but it drops the on-commit callbacks of a transaction or savepoint
    that rolls back; a finalizer on the dropped callback runs the removal at that moment.
    """
    state = {"committed": False}
    marker = FileCommitMarker(state)
    weakref.finalize(marker, _remove_unless_committed, storage, name, state)
    transaction.on_commit(marker)  # outside any transaction this runs at once: the file is kept


def file_save(field_file: FieldFile, filename: str, data: bytes) -> str:
    """Write `data` under a new name made by the field from `filename`; returns the stored name.

    A write that fails (a full or read-only disk) leaves no partial file; the file is removed if the
    current transaction does not commit.
    """
    name = field_file.field.generate_filename(field_file.instance, filename)
    return _write(field_file, name, data, overwrite=False)


def file_save_at(field_file: FieldFile, name: str, data: bytes) -> str:
    """Write `data` under exactly `name`, replacing a file a failed earlier attempt left there.

    Idempotent: a retry writes the same name again instead of leaving one more file behind.
    """
    return _write(field_file, name, data, overwrite=True)


def _write(field_file: FieldFile, name: str, data: bytes, *, overwrite: bool) -> str:
    storage = field_file.storage
    if overwrite and storage.exists(name):
        storage.delete(name)
    try:
        stored = storage.save(name, ContentFile(data), max_length=field_file.field.max_length)
    except BaseException:
        # FileSystemStorage creates the file before writing it: a full disk leaves an empty one.
        if storage.exists(name):
            storage.delete(name)
        raise
    if overwrite and stored != name:  # another writer took the name between our delete and save
        storage.delete(stored)
        raise FileExistsError(f"{name} was written by another run")
    _delete_on_rollback(storage, stored)
    field_file.name = stored
    # FieldFile.save sets this flag too; django-stubs leaves the private attribute out.
    field_file._committed = True  # type: ignore[attr-defined]
    return stored
