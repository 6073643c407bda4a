from django import forms
from django.contrib import admin

from .models import Image, ImportJob, Mask, Membership, Project


class ProjectAdminForm(forms.ModelForm):
    """The training settings pass the API's own checks (ProjectSettingsSerializer): a size, tiling or backbone
    the API refuses is refused here too, with the same reason, instead of failing the next training."""

    class Meta:
        model = Project
        fields = [
            "name",
            "description",
            "owner",
            "image_size",
            "tiling",
            "backbone",
            "auto_retrain",
            "retrain_after_labels",
            "min_good_for_first_model",
            "test_fraction",
            "labels_since_training",
        ]

    def clean(self):
        from .api.serializers import ProjectSettingsSerializer

        data = super().clean()
        names = [name for name in ProjectSettingsSerializer().fields if name in data]
        checked = ProjectSettingsSerializer(data={name: data[name] for name in names})
        if checked.is_valid():
            data.update(checked.validated_data)
        else:
            for name, problems in checked.errors.items():
                self.add_error(name if name in self.fields else None, [str(p) for p in problems])
        return data


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ["user"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    form = ProjectAdminForm
    list_display = ["id", "name", "owner", "backbone", "image_size", "auto_retrain", "created_at"]
    search_fields = ["name", "owner__username"]
    inlines = [MembershipInline]
    raw_id_fields = ["owner"]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "user", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["project__name", "user__username"]
    raw_id_fields = ["project", "user"]


@admin.register(Image)
class ImageAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "filename", "label", "split", "has_mask", "width", "height", "created_at"]
    list_filter = ["label", "split", "has_mask"]
    search_fields = ["filename", "sha256"]
    raw_id_fields = ["project"]
    readonly_fields = ["sha256", "file", "thumbnail", "width", "height", "created_at", "updated_at"]


@admin.register(Mask)
class MaskAdmin(admin.ModelAdmin):
    list_display = ["id", "image", "area", "updated_at"]
    raw_id_fields = ["image"]


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "archive_name", "status", "progress", "created", "duplicates", "created_at"]
    list_filter = ["status"]
    raw_id_fields = ["project", "created_by"]
