"""Comparing two versions of a project (`GET /models/{a}/compare/{b}/`): both verdicts per image, what changed,
and the image metrics of both on the same images (webapp.training.selectors.compare_versions picks them)."""

from rest_framework import serializers

from ml.metrics import compute_metrics, is_defective
from webapp.datasets.imaging import THUMBNAIL_RULE

from ..models import ModelVersion
from .serializers import CommonMetricsSerializer, MetricsSerializer, ModelVersionSerializer


class ComparedVersionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    version = serializers.IntegerField()
    threshold = serializers.FloatField()
    is_active = serializers.BooleanField()
    metrics = MetricsSerializer(help_text="The version's own metrics, each on its own test split (stored at training).")
    on_these_images = CommonMetricsSerializer(
        help_text="Image metrics on the compared images only (the same images for both versions, labels as "
        "they are now; f1/precision/recall at this version's threshold): the figures to set side by side."
    )


class ComparedImageSerializer(serializers.Serializer):
    image = serializers.IntegerField()
    filename = serializers.CharField()
    label = serializers.CharField(help_text="good | defective | unlabeled (the image's label now)")
    defect_type = serializers.CharField(allow_null=True)
    score_a = serializers.FloatField()
    score_b = serializers.FloatField()
    is_defective_a = serializers.BooleanField(help_text="score_a >= threshold of version a")
    is_defective_b = serializers.BooleanField(help_text="score_b >= threshold of version b")
    changed = serializers.BooleanField(help_text="The two versions give this image different verdicts.")
    thumbnail_url = serializers.CharField(help_text="The image's thumbnail (as in the image's own thumbnail_url).")


class ComparisonSummarySerializer(serializers.Serializer):
    images = serializers.IntegerField(
        help_text="Images both versions held out (in the test split of both training snapshots) and scored."
    )
    changed = serializers.IntegerField(help_text="Of them, images whose verdict differs.")
    correct_a = serializers.IntegerField(help_text="Labelled test images version a gets right.")
    correct_b = serializers.IntegerField(help_text="Labelled test images version b gets right.")
    fixed = serializers.IntegerField(help_text="Wrong with a, right with b.")
    broken = serializers.IntegerField(help_text="Right with a, wrong with b.")


class ComparisonSerializer(serializers.Serializer):
    a = ComparedVersionSerializer()
    b = ComparedVersionSerializer()
    summary = ComparisonSummarySerializer()
    images = ComparedImageSerializer(many=True)

    @staticmethod
    def build(a: ModelVersion, b: ModelVersion, rows: list[dict]) -> dict:
        """Verdicts by the one rule (score >= threshold) of each version, and what changed between them."""
        summary = {"images": len(rows), "changed": 0, "correct_a": 0, "correct_b": 0, "fixed": 0, "broken": 0}
        images = []
        for row in rows:
            da = bool(is_defective(row["score_a"], a.threshold))
            db = bool(is_defective(row["score_b"], b.threshold))
            thumbnail = f"/api/v1/images/{row['image']}/thumbnail/?v={THUMBNAIL_RULE}"
            images.append(
                {**row, "is_defective_a": da, "is_defective_b": db, "changed": da != db, "thumbnail_url": thumbnail}
            )
            summary["changed"] += da != db
            if row["label"] in ("good", "defective"):
                truth = row["label"] == "defective"
                ok_a, ok_b = da == truth, db == truth
                summary["correct_a"] += ok_a
                summary["correct_b"] += ok_b
                summary["fixed"] += ok_b and not ok_a
                summary["broken"] += ok_a and not ok_b
        labelled = [row for row in rows if row["label"] in ("good", "defective")]
        truth = [int(row["label"] == "defective") for row in labelled]

        def on_these(version: ModelVersion, key: str) -> dict:
            computed = compute_metrics([row[key] for row in labelled], truth, threshold=version.threshold)
            return {name: computed[name] for name in ("image_auroc", "image_ap", "f1", "precision", "recall")}

        def side(version: ModelVersion, key: str) -> dict:
            return {
                "id": version.id,
                "version": version.version,
                "threshold": version.threshold,
                "is_active": version.is_active,
                "metrics": ModelVersionSerializer().get_metrics(version),
                "on_these_images": on_these(version, key),
            }

        return {"a": side(a, "score_a"), "b": side(b, "score_b"), "summary": summary, "images": images}
