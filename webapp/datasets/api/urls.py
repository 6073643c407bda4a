from django.urls import path

from . import views

urlpatterns = [
    path("projects/", views.ProjectListView.as_view(), name="project-list"),
    path("projects/<int:pk>/", views.ProjectDetailView.as_view(), name="project-detail"),
    path("projects/<int:project_id>/members/", views.MemberListView.as_view(), name="project-members"),
    path("projects/<int:project_id>/members/<int:user_id>/", views.MemberDetailView.as_view(), name="project-member"),
    path("projects/<int:project_id>/images/", views.ProjectImageListView.as_view(), name="project-images"),
    path("projects/<int:project_id>/images/bulk/", views.ProjectImageBulkView.as_view(), name="project-images-bulk"),
    path(
        "projects/<int:project_id>/defect-types/",
        views.ProjectDefectTypeListView.as_view(),
        name="project-defect-types",
    ),
    path("projects/<int:project_id>/imports/", views.ProjectImportListView.as_view(), name="project-imports"),
    path("images/<int:pk>/", views.ImageDetailView.as_view(), name="image-detail"),
    path("images/<int:pk>/file/", views.ImageFileView.as_view(), name="image-file"),
    path("images/<int:pk>/thumbnail/", views.ImageThumbnailView.as_view(), name="image-thumbnail"),
    path("images/<int:pk>/mask/", views.ImageMaskView.as_view(), name="image-mask"),
    path("imports/<int:pk>/", views.ImportDetailView.as_view(), name="import-detail"),
]
