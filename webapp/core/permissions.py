"""Who may do what in a project: every access rule of the API lives here.

Roles (API.md): owners manage members and delete the project; labellers upload, label, paint, import
and train; viewers read. Non-members never learn that a project exists: views look projects up through
`webapp.datasets.selectors`, which only return the user's own, so they get 404 before these classes run.
These classes decide 403 for members whose role does not allow a write.
"""

from rest_framework.permissions import SAFE_METHODS, BasePermission

OWNER = "owner"
LABELLER = "labeller"
VIEWER = "viewer"
WRITE_ROLES = frozenset({OWNER, LABELLER})


def project_of(obj):
    """The project an API object belongs to (a Project itself, or anything with `.project`)."""
    from webapp.datasets.models import Project

    return obj if isinstance(obj, Project) else obj.project


def role_in_project(user, project) -> str | None:
    """The user's role in the project, or None. Cached on the project object for the request."""
    if not user or not user.is_authenticated:
        return None
    cache = project.__dict__.setdefault("_roles_cache", {})
    if user.pk not in cache:
        role = getattr(project, "my_role", None)  # annotated by selectors for list/detail queries
        if role is None:
            membership = project.memberships.filter(user_id=user.pk).values_list("role", flat=True).first()
            role = membership or (OWNER if project.owner_id == user.pk else None)
        cache[user.pk] = role
    return cache[user.pk]


class IsProjectMember(BasePermission):
    """Any member may read."""

    message = "You are not a member of this project."

    def has_object_permission(self, request, view, obj) -> bool:
        return role_in_project(request.user, project_of(obj)) is not None


class CanEditProjectData(BasePermission):
    """Members read; owners and labellers write (upload, label, paint, import, train, settings)."""

    message = "Viewers can only read this project; ask an owner for the labeller role."
    write_roles = WRITE_ROLES

    def has_object_permission(self, request, view, obj) -> bool:
        role = role_in_project(request.user, project_of(obj))
        if role is None:
            return False
        return request.method in SAFE_METHODS or role in self.write_roles


class IsProjectOwnerForWrites(CanEditProjectData):
    """Members read; only owners write (members, deleting the project)."""

    message = "Only the project's owners can do this."
    write_roles = frozenset({OWNER})
