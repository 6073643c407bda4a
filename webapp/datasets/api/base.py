"""What every project-scoped view of the datasets API shares."""

from webapp.core.permissions import CanEditProjectData

from .. import selectors
from ..models import Project


class ProjectScopedMixin:
    """Resolves `project_id` from the URL to one of the user's projects (404 otherwise) and checks roles."""

    project_permission = CanEditProjectData

    def get_project(self) -> Project:
        if not hasattr(self, "_project"):
            project = selectors.project_for_member(self.request.user, self.kwargs["project_id"])
            if not self.project_permission().has_object_permission(self.request, self, project):
                self.permission_denied(self.request, message=self.project_permission.message)
            self._project = project
        return self._project
