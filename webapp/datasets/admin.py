from django.contrib import admin

from .models import Image, ImportJob, Mask, Membership, Project


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ["user"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
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
