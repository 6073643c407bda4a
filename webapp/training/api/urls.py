from django.urls import path

from . import views

urlpatterns = [
    path(
        "projects/<id:project_id>/training-jobs/",
        views.ProjectTrainingJobsView.as_view(),
        name="project-training-jobs",
    ),
    path(
        "projects/<id:project_id>/training-status/", views.TrainingStatusView.as_view(), name="project-training-status"
    ),
    path("training-jobs/<id:job_id>/", views.TrainingJobDetailView.as_view(), name="training-job-detail"),
    path("training-jobs/<id:job_id>/cancel/", views.TrainingJobCancelView.as_view(), name="training-job-cancel"),
    path("projects/<id:project_id>/models/", views.ProjectModelsView.as_view(), name="project-models"),
    path("models/<id:model_id>/", views.ModelDetailView.as_view(), name="model-detail"),
    path("models/<id:model_id>/activate/", views.ModelActivateView.as_view(), name="model-activate"),
    path("models/<id:model_id>/export/", views.ModelExportView.as_view(), name="model-export"),
    path("models/<id:model_id>/compare/<id:other_id>/", views.ModelCompareView.as_view(), name="model-compare"),
    path("images/<id:image_id>/prediction/", views.ImagePredictionView.as_view(), name="image-prediction"),
    path("predictions/<id:prediction_id>/heatmap/", views.PredictionHeatmapView.as_view(), name="prediction-heatmap"),
    path("projects/<id:project_id>/predict/", views.PredictView.as_view(), name="project-predict"),
    path(
        "projects/<id:project_id>/inference-batches/",
        views.ProjectInferenceBatchesView.as_view(),
        name="project-inference-batches",
    ),
    path("inference-batches/<id:batch_id>/", views.InferenceBatchDetailView.as_view(), name="inference-batch-detail"),
    path(
        "inference-batches/<id:batch_id>/results/",
        views.InferenceBatchResultsView.as_view(),
        name="inference-batch-results",
    ),
    path(
        "inference-items/<id:item_id>/heatmap/",
        views.InferenceItemHeatmapView.as_view(),
        name="inference-item-heatmap",
    ),
]
