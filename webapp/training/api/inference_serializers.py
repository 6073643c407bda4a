"""Serializers of inference: synchronous predict answers, inference batches and their results."""

from django.urls import reverse
from rest_framework import serializers

from ml.metrics import is_defective

from ..models import InferenceBatch, InferenceItem


class PredictResultSerializer(serializers.Serializer):
    filename = serializers.CharField()
    score = serializers.FloatField()
    is_defective = serializers.BooleanField()
    heatmap_png_base64 = serializers.CharField()


class PredictResponseSerializer(serializers.Serializer):
    model = serializers.IntegerField()
    results = PredictResultSerializer(many=True)


class UploadFilesSerializer(serializers.Serializer):
    files = serializers.ListField(child=serializers.FileField(), required=False)


class BatchUploadSerializer(serializers.Serializer):
    files = serializers.ListField(child=serializers.FileField(), required=False)
    archive = serializers.FileField(required=False, help_text="A zip of images (folders allowed).")
    model = serializers.IntegerField(
        required=False, help_text="Id of the project's model version to score with; the active version when absent."
    )


class InferenceBatchSerializer(serializers.ModelSerializer):
    project = serializers.IntegerField(source="project_id", read_only=True)
    model = serializers.IntegerField(source="model_version_id", read_only=True)
    results_url = serializers.SerializerMethodField()

    class Meta:
        model = InferenceBatch
        fields = ["id", "project", "model", "status", "total", "done", "failed", "created_at", "finished_at"]
        fields += ["results_url", "error"]
        extra_kwargs = {
            "error": {
                "help_text": 'Why the batch failed, or, while it runs, what it waits for ("Waiting for the storage '
                '...": the object storage did not answer; it goes on by itself); empty otherwise.'
            }
        }
        read_only_fields = fields

    def get_results_url(self, batch) -> str:
        return self.context["request"].build_absolute_uri(reverse("inference-batch-results", args=[batch.id]))


class InferenceItemSerializer(serializers.ModelSerializer):
    is_defective = serializers.SerializerMethodField()
    heatmap_url = serializers.SerializerMethodField()

    class Meta:
        model = InferenceItem
        fields = ["id", "filename", "score", "is_defective", "heatmap_url", "error"]
        read_only_fields = fields

    def get_is_defective(self, item) -> bool | None:
        return None if item.score is None else is_defective(item.score, item.batch.model_version.threshold)

    def get_heatmap_url(self, item) -> str | None:
        if not item.heatmap:
            return None
        return self.context["request"].build_absolute_uri(reverse("inference-item-heatmap", args=[item.id]))
