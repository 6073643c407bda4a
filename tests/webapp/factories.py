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
    password = factory.PostGenerationMethodCall("set_password", "password-123")


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

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
