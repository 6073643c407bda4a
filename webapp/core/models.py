"""Bookkeeping shared by every app."""

from django.db import models


class UnreferencedFile(models.Model):
    """A stored file that no row referred to when the collector last looked.

    The collector deletes a file only when it was already unreferenced at an earlier pass at least
    FILES_COLLECT_GRACE_SECONDS ago: a row that was being written at the first pass (an upload, a
    training snapshot) has committed by the second, so its file is never taken from under it.
    """

    name = models.CharField(max_length=255, unique=True)
    first_seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.name
