"""Serializers of projects, their training settings and members, and of import jobs."""

from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.core.validators import MaxLengthValidator
from django.db import models
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from webapp.core.api.strict import StrictCharField, StrictKeysMixin

from ..backbones import available_backbones, backbone_problem
from ..models import ImportJob, Membership, Project, Role
from .resolution import SIZE_HELP, TILING_HELP, ImageSizeField, TilingField


class ProjectSettingsSerializer(StrictKeysMixin, serializers.Serializer):
    unknown_key_message = "Unknown setting {key!r}; the settings are: {allowed}."

    image_size = ImageSizeField(required=False, help_text=SIZE_HELP)
    tiling = TilingField(required=False, help_text=TILING_HELP)
    backbone = StrictCharField(required=False, help_text="One of the available backbones.")
    auto_retrain = serializers.BooleanField(required=False)
    retrain_after_labels = serializers.IntegerField(required=False, min_value=1, max_value=100_000)
    min_good_for_first_model = serializers.IntegerField(required=False, min_value=1, max_value=100_000)
    test_fraction = serializers.FloatField(
        required=False, min_value=0.0, max_value=0.9, help_text="Share of newly labelled images sent to the test split."
    )

    def validate_backbone(self, value: str) -> str:
        choices = available_backbones()
        if value not in choices:
            from ml.registry import BACKBONES

            available = f"the available ones are: {', '.join(choices)}."
            if value not in BACKBONES:
                raise serializers.ValidationError(f"Unknown backbone {value[:80]!r}; {available}")
            problem = backbone_problem(value) or "not installed"
            raise serializers.ValidationError(f"Backbone {value!r} is not available ({problem}); {available}")
        return value


class CountsSerializer(serializers.Serializer):
    images = serializers.IntegerField()
    good = serializers.IntegerField()
    defective = serializers.IntegerField()
    unlabeled = serializers.IntegerField()
    masks = serializers.IntegerField()


class ProjectSerializer(StrictKeysMixin, serializers.ModelSerializer):
    counts = serializers.SerializerMethodField()
    active_model = serializers.IntegerField(
        source="active_model_id", read_only=True, allow_null=True, help_text="Id of the active model version."
    )
    settings = ProjectSettingsSerializer(source="*", required=False)
    role = serializers.CharField(source="my_role", read_only=True, help_text="Your role in this project.")
    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.CharField: StrictCharField,
        models.TextField: StrictCharField,
    }

    class Meta:
        model = Project
        fields = [
            "id",
            "name",
            "description",
            "created_at",
            "counts",
            "active_model",
            "settings",
            "role",
            "labels_since_training",
        ]
        read_only_fields = ["id", "created_at", "labels_since_training"]

    def get_fields(self):
        # Typed text is bounded by settings (MAX_PROJECT_NAME_CHARS, MAX_DESCRIPTION_CHARS): a 200 MB
        # description would otherwise come back in every project list.
        fields = super().get_fields()
        limits = {"name": django_settings.MAX_PROJECT_NAME_CHARS, "description": django_settings.MAX_DESCRIPTION_CHARS}
        for name, limit in limits.items():
            field = fields[name]
            field.max_length = limit
            field.validators = [v for v in field.validators if not isinstance(v, MaxLengthValidator)]
            field.validators.append(MaxLengthValidator(limit))
        return fields

    @extend_schema_field(CountsSerializer)
    def get_counts(self, project: Project) -> dict:
        return {
            "images": getattr(project, "n_images", 0),
            "good": getattr(project, "n_good", 0),
            "defective": getattr(project, "n_defective", 0),
            "unlabeled": getattr(project, "n_unlabeled", 0),
            "masks": getattr(project, "n_masks", 0),
        }


class MemberSerializer(serializers.ModelSerializer):
    user_id = serializers.IntegerField(read_only=True)
    username = serializers.CharField(source="user.username", read_only=True)
    is_creator = serializers.SerializerMethodField(
        help_text="The project's creator: always an owner, and cannot be removed (409)."
    )

    class Meta:
        model = Membership
        fields = ["user_id", "username", "role", "is_creator"]

    def get_is_creator(self, membership: Membership) -> bool:
        return membership.user_id == membership.project.owner_id


NO_SUCH_USER = "No active user has this user name or e-mail address."


class MemberCreateSerializer(StrictKeysMixin, serializers.Serializer):
    """Who to add, as the owner types it: a user name or an e-mail address.

    `user_id` is only accepted for someone already in the project (to change their role): ids of other
    users would let an owner enumerate accounts. Every miss gets the same answer, NO_SUCH_USER."""

    username = StrictCharField(required=False, max_length=150)
    email = serializers.EmailField(required=False, max_length=254)
    user_id = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
    role = serializers.ChoiceField(
        choices=Role.choices,
        required=False,
        help_text="Left out: a new member becomes a labeller, an existing member keeps their role.",
        error_messages={"invalid_choice": f'"{{input}}" is not a role; the roles are: {", ".join(Role.values)}.'},
    )

    def validate(self, attrs: dict) -> dict:
        given = [name for name in ("username", "email", "user_id") if name in attrs]
        if len(given) != 1:
            raise serializers.ValidationError("Give one of username or email (user_id only for a current member).")
        users = get_user_model().objects.filter(is_active=True)
        if "username" in attrs:
            matches = users.filter(username=attrs["username"])
        elif "email" in attrs:
            matches = users.filter(email__iexact=attrs["email"]) if attrs["email"] else users.none()
        else:
            project = self.context["project"]
            matches = users.filter(pk=attrs["user_id"], memberships__project=project)
        found = list(matches[:2])
        if len(found) != 1:  # none, or an e-mail address several accounts share
            raise serializers.ValidationError(NO_SUCH_USER)
        return {"user": found[0], "role": attrs.get("role")}


class ImportCreateSerializer(serializers.Serializer):
    archive = serializers.FileField(help_text="A zip: MVTec AD layout, or any images (imported unlabeled).")


class ImportJobSerializer(serializers.ModelSerializer):
    updated = serializers.IntegerField(
        read_only=True, help_text="Images already in the project that took a label, split, mask or defect type."
    )
    kept = serializers.IntegerField(
        read_only=True, help_text="Images already in the project that kept a value a person set over the archive's."
    )
    queue = serializers.SerializerMethodField(
        help_text="'ok' (the broker took the task), 'unavailable' (the job waits for the broker; it is sent again "
        "every minute) or null (not sent yet)."
    )

    class Meta:
        model = ImportJob
        fields = [
            "id",
            "project",
            "status",
            "progress",
            "total",
            "created",
            "duplicates",
            "masks",
            "updated",
            "kept",
            "skipped",
            "errors",
            "error",
            "archive_name",
            "queue",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields

    @extend_schema_field({"type": "string", "enum": ["ok", "unavailable"], "nullable": True})
    def get_queue(self, job: ImportJob) -> str | None:
        return job.queue or None
