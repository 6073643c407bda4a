from django.urls import path

from . import views

urlpatterns = [
    path("projects/", views.ProjectListView.as_view(), name="project-list"),
    path("projects/<id:pk>/", views.ProjectDetailView.as_view(), name="project-detail"),
    path("projects/<id:project_id>/members/", views.MemberListView.as_view(), name="project-members"),
    path("projects/<id:project_id>/members/<id:user_id>/", views.MemberDetailView.as_view(), name="project-member"),
    path("projects/<id:project_id>/images/", views.ProjectImageListView.as_view(), name="project-images"),
    path("projects/<id:project_id>/images/bulk/", views.ProjectImageBulkView.as_view(), name="project-images-bulk"),
    path(
        "projects/<id:project_id>/defect-types/",
        views.ProjectDefectTypeListView.as_view(),
        name="project-defect-types",
    ),
    path("projects/<id:project_id>/imports/", views.ProjectImportListView.as_view(), name="project-imports"),
    path("images/<id:pk>/", views.ImageDetailView.as_view(), name="image-detail"),
    path("images/<id:pk>/file/", views.ImageFileView.as_view(), name="image-file"),
    path("images/<id:pk>/view/", views.ImageViewView.as_view(), name="image-view"),
    path("images/<id:pk>/thumbnail/", views.ImageThumbnailView.as_view(), name="image-thumbnail"),
    path("images/<id:pk>/mask/", views.ImageMaskView.as_view(), name="image-mask"),
    path("imports/<id:pk>/", views.ImportDetailView.as_view(), name="import-detail"),
]
