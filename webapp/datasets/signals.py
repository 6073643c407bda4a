"""Signals other apps listen to.

`labels_changed(sender=Project, project_id=...)` is sent after the commit of every change that added
labels or masks (PATCH, bulk, mask PUT, imports); automatic retraining (webapp.training) receives it.
"""

from django.dispatch import Signal

labels_changed = Signal()
