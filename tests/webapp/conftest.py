"""Fixtures for the datasets/API tests: projects with members in every role, image bytes, stored files."""

import io
import struct
import zlib
from pathlib import Path
from urllib import error, request

import numpy as np
import pytest
from django.core.files.storage import default_storage
from PIL import Image as PILImage
from rest_framework.test import APIClient

from webapp.datasets.models import Role

from .factories import MembershipFactory, ProjectFactory, UserFactory


def image_bytes(fmt: str = "PNG", size=(40, 30), mode: str = "RGB", color=None) -> bytes:
    image = PILImage.new(mode, size, color if color is not None else (10, 200, 30) if mode == "RGB" else 128)
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height (grayscale), with a token of pixel data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def stored_files(media_root) -> list[str]:
    root = Path(media_root)
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def collect_unreferenced():
    """Two passes of the file collector with no grace period: what nothing refers to is deleted."""
    from webapp.core.collect import collect_files

    collect_files(grace_seconds=0)
    return collect_files(grace_seconds=0)


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def project(user):
    return ProjectFactory(owner=user, name="Tiles")


@pytest.fixture
def member_client(project):
    """APIClient of a fresh member of `project` with the given role."""

    def make(role: str = Role.LABELLER) -> APIClient:
        membership = MembershipFactory(project=project, user=UserFactory(), role=role)
        return client_for(membership.user)

    return make


@pytest.fixture
def outsider_client(other_user):
    return client_for(other_user)


def mask_png(width: int, height: int, box=(1, 1, 3, 3), mode: str = "L", value=200) -> bytes:
    """A mask PNG with `value` inside `box` (x0, y0, x1, y1 exclusive) and zeros elsewhere."""
    array = np.zeros((height, width) if mode == "L" else (height, width, len(mode)), dtype=np.uint8)
    x0, y0, x1, y1 = box
    array[y0:y1, x0:x1] = value
    out = io.BytesIO()
    PILImage.fromarray(array, mode=mode).save(out, format="PNG")
    return out.getvalue()


def put_mask(client, image, data: bytes | None = None, content_type: str = "image/png"):
    body = mask_png(image.width, image.height) if data is None else data
    return client.put(f"/api/v1/images/{image.pk}/mask/", body, content_type=content_type)


def live_call(url: str, token: str, method: str, body: bytes = b"", content_type: str | None = None) -> int:
    """One request to the live server (urllib, so threads can race them); the HTTP status, errors included."""
    headers = {"Authorization": f"Token {token}", **({"Content-Type": content_type} if content_type else {})}
    req = request.Request(url, data=body, method=method, headers=headers)
    try:
        with request.urlopen(req, timeout=60) as response:
            return response.status
    except error.HTTPError as exc:
        return exc.code


@pytest.fixture
def s3_storage(settings, monkeypatch):
    """Default storage = django-storages' S3Storage on moto's in-process S3 (no network)."""
    moto = pytest.importorskip("moto")
    import boto3

    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    with moto.mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="studio-test")
        settings.AWS_STORAGE_BUCKET_NAME = "studio-test"
        settings.AWS_S3_REGION_NAME = "us-east-1"
        settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "storages.backends.s3.S3Storage"}}
        from storages.backends.s3 import S3Storage

        default_storage._setup()
        assert isinstance(default_storage._wrapped, S3Storage)
        yield default_storage
