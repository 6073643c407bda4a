"""Request bodies are refused by size before they are read; typed text fields have limits; files keep theirs."""

import io

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image as PILImage

from .factories import ImageFactory

pytestmark = pytest.mark.django_db

MB = 1024 * 1024


class UnreadableBody(io.BytesIO):
    """A request body that fails the test if anything reads it."""

    def read(self, *args, **kwargs):
        raise AssertionError("the body was read")

    readline = read


def claimed_body(client, path: str, length: int, content_type: str = "application/json", method: str = "post"):
    """A request whose Content-Length says `length` bytes; reading any of it fails the test."""
    return client.generic(
        method.upper(),
        path,
        b"",
        content_type=content_type,
        CONTENT_LENGTH=str(length),
        **{"wsgi.input": UnreadableBody()},
    )


def test_an_anonymous_300_mb_json_body_to_the_token_endpoint_is_413_unread(anon_client):
    response = claimed_body(anon_client, "/api/v1/auth/token/", 300 * MB)

    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    assert "MAX_REQUEST_BODY_BYTES" in response.json()["detail"]


def test_a_200_mb_project_description_is_413_unread(api_client):
    response = claimed_body(api_client, "/api/v1/projects/", 200 * MB)

    assert response.status_code == 413 and "limit" in response.json()["detail"]


def test_a_body_just_over_the_limit_is_413(api_client, settings):
    settings.MAX_REQUEST_BODY_BYTES = 1000

    response = api_client.post("/api/v1/projects/", {"name": "x", "description": "d" * 2000}, format="json")

    assert response.status_code == 413


@pytest.mark.parametrize(
    "field, setting", [("description", "MAX_DESCRIPTION_CHARS"), ("name", "MAX_PROJECT_NAME_CHARS")]
)
def test_text_fields_over_their_limit_are_400_naming_the_field(api_client, settings, field, setting):
    setattr(settings, setting, 50)
    body = {"name": "Tiles", field: "x" * 51}

    created = api_client.post("/api/v1/projects/", body, format="json")
    at_limit = api_client.post("/api/v1/projects/", {**body, field: "x" * 50}, format="json")

    assert created.status_code == 400 and field in created.json()["detail"]
    assert created.json()["errors"][field]
    assert at_limit.status_code == 201


def test_a_patch_cannot_grow_the_description_past_its_limit(api_client, project, settings):
    settings.MAX_DESCRIPTION_CHARS = 10

    response = api_client.patch(f"/api/v1/projects/{project.pk}/", {"description": "y" * 11}, format="json")

    assert response.status_code == 400 and "description" in response.json()["detail"]


def test_multipart_uploads_keep_their_own_limits_above_the_json_limit(api_client, project, settings):
    # given a JSON limit far below the size of the image uploaded
    settings.MAX_REQUEST_BODY_BYTES = 1000
    noise = np.random.default_rng(0).integers(0, 255, (120, 120, 3), dtype=np.uint8)
    out = io.BytesIO()
    PILImage.fromarray(noise).save(out, format="PNG")
    assert len(out.getvalue()) > 10 * settings.MAX_REQUEST_BODY_BYTES

    # when
    response = api_client.post(
        f"/api/v1/projects/{project.pk}/images/",
        {"files": [SimpleUploadedFile("noise.png", out.getvalue())]},
        format="multipart",
    )

    # then
    assert response.status_code == 201, response.content


def test_a_multipart_body_over_its_limit_is_413_unread(api_client, project, settings):
    settings.MAX_MULTIPART_BYTES = 10 * MB

    response = claimed_body(
        api_client, f"/api/v1/projects/{project.pk}/images/", 11 * MB, content_type="multipart/form-data; boundary=x"
    )

    assert response.status_code == 413 and "MAX_MULTIPART_BYTES" in response.json()["detail"]


def test_a_mask_body_is_bounded_by_the_upload_limit_not_the_json_limit(api_client, project, settings):
    settings.MAX_REQUEST_BODY_BYTES = settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    image = ImageFactory(project=project)
    url = f"/api/v1/images/{image.pk}/mask/"

    big_but_allowed = api_client.put(url, b"\x00" * 5000, content_type="image/png")
    too_big = claimed_body(api_client, url, settings.MAX_UPLOAD_BYTES + 1, content_type="image/png", method="put")

    assert big_but_allowed.status_code == 400  # read, and refused as not a PNG
    assert too_big.status_code == 413


def test_the_login_page_refuses_a_huge_form_with_413(client):
    response = claimed_body(client, "/accounts/login/", 300 * MB, content_type="application/x-www-form-urlencoded")

    assert response.status_code == 413


def test_a_content_length_that_is_not_a_number_is_400(anon_client):
    response = anon_client.generic(
        "POST", "/api/v1/auth/token/", b"{}", content_type="application/json", CONTENT_LENGTH="x"
    )

    assert response.status_code == 400 and response.json()["detail"]
