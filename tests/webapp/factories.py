"""factory_boy factories shared by the web-app tests (datasets here; training factories may join)."""

import hashlib
import io
import itertools

import factory
from django.contrib.auth import get_user_model
from PIL import Image as PILImage

from webapp.datasets import files
from webapp.datasets.models import Image, Label, Membership, Project, Role, Split

_distinct = itertools.count(1)


def png_bytes(width: int = 32, height: int = 24, color=(120, 130, 140), mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    PILImage.new(mode, (width, height), color).save(out, format="PNG")
    return out.getvalue()


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("password-123")


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Project {n}")
    owner = factory.SubFactory(UserFactory)

    @factory.post_generation
    def owner_membership(project, create, extracted, **kwargs):
        if create:
            Membership.objects.get_or_create(project=project, user=project.owner, defaults={"role": Role.OWNER})


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    project = factory.SubFactory(ProjectFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.LABELLER


class ImageFactory(factory.django.DjangoModelFactory):
    """An image row with a real, readable PNG and thumbnail in storage (distinct bytes per instance)."""

    class Meta:
        model = Image

    project = factory.SubFactory(ProjectFactory)
    filename = factory.Sequence(lambda n: f"img_{n}.png")
    width = 32
    height = 24
    label = Label.UNLABELED
    split = Split.TRAIN

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        if "sha256" not in kwargs:
            n = next(_distinct)
            data = png_bytes(kwargs["width"], kwargs["height"], color=(n % 256, (n // 256) % 256, (n // 65536) % 256))
            sha = hashlib.sha256(data).hexdigest()
            kwargs["sha256"] = sha
            kwargs.setdefault("file", files.image_name(sha, "png"))
            kwargs.setdefault("thumbnail", files.thumbnail_name(sha))
            files.write_once(kwargs["file"], data)
            files.write_once(kwargs["thumbnail"], png_bytes(8, 6))
        return super()._create(model_class, *args, **kwargs)


# --- training (pipeline engineer) ---------------------------------------------------------------------------

from django.core.files.base import ContentFile  # noqa: E402
from django.core.files.storage import default_storage  # noqa: E402

from webapp.training.models import JobStatus, ModelVersion, Prediction, TrainingJob, TrainingMode  # noqa: E402


class TrainingJobFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TrainingJob

    project = factory.SubFactory(ProjectFactory)
    mode = TrainingMode.AUTO
    resolved_mode = TrainingMode.UNSUPERVISED
    status = JobStatus.QUEUED


class ModelVersionFactory(factory.django.DjangoModelFactory):
    """A version with a stored (dummy) checkpoint file; tests patch the Predictor that would load it."""

    class Meta:
        model = ModelVersion

    project = factory.SubFactory(ProjectFactory)
    version = factory.Sequence(lambda n: n + 1)
    mode = TrainingMode.UNSUPERVISED
    backbone = "efficientnet_lite0"
    image_size = 64
    threshold = 0.5
    metrics = factory.LazyFunction(
        lambda: dict.fromkeys(("image_auroc", "image_ap", "pixel_auroc", "aupro", "f1", "precision", "recall"))
    )
    train_counts = factory.LazyFunction(lambda: {"good": 10, "defective": 0, "masks": 0})

    @factory.lazy_attribute
    def checkpoint(self):
        return default_storage.save(f"models/test-{next(_distinct)}.pt", ContentFile(b"good"))


class PredictionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Prediction

    image = factory.SubFactory(ImageFactory)
    model_version = factory.SubFactory(ModelVersionFactory)
    score = 0.25

    @factory.lazy_attribute
    def heatmap(self):
        buf = io.BytesIO()
        PILImage.new("L", (self.image.width, self.image.height), 64).save(buf, format="PNG")
        return default_storage.save(f"predictions/test/{next(_distinct)}.png", ContentFile(buf.getvalue()))
