"""Strict requests: unknown filter keys and bad values are 400 naming them and change nothing; numbers no
column can hold, too many files and absurdly nested JSON are clear 4xx answers, never 500 (issue 10, items 4-5)."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from webapp.datasets.models import Image, Label, Role

from .conftest import image_bytes
from .factories import ImageFactory, ModelVersionFactory

pytestmark = pytest.mark.django_db


def bulk(client, project, payload, query=""):
    return client.post(f"/api/v1/projects/{project.pk}/images/bulk/{query}", payload, format="json")


@pytest.fixture
def images(project):
    return [
        ImageFactory(project=project, label=Label.GOOD),
        ImageFactory(project=project),
        ImageFactory(project=project),
    ]


# ---------------------------------------------------------------- item 4: a typo never widens a request


def test_a_misspelt_filter_key_in_a_bulk_delete_is_400_and_deletes_nothing(api_client, project, images):
    response = bulk(api_client, project, {"filter": {"lable": "unlabeled"}, "action": "delete"})

    assert response.status_code == 400
    assert "'lable'" in response.json()["detail"]
    assert Image.objects.filter(project=project).count() == 3


def test_an_unknown_top_level_bulk_key_is_400(api_client, project, images):
    response = bulk(api_client, project, {"ids": [images[0].pk], "action": "delete", "confirm": True})

    assert response.status_code == 400 and "'confirm'" in response.json()["detail"]
    assert Image.objects.filter(project=project).count() == 3


@pytest.mark.parametrize(
    "payload",
    [
        {"filter": {}, "action": "delete"},
        {"filter": {"label": "", "has_mask": None}, "action": "delete"},
        {"filter": {"defect_type": []}, "action": "delete"},
        {"ids": [], "action": "delete"},
    ],
)
def test_a_bulk_delete_needs_an_explicit_selection(api_client, project, images, payload):
    response = bulk(api_client, project, payload)

    assert response.status_code == 400 and "delete" in response.json()["detail"]
    assert Image.objects.filter(project=project).count() == 3


def test_a_dry_run_says_how_many_it_would_delete_and_changes_nothing(api_client, project, images):
    response = bulk(api_client, project, {"filter": {"label": "unlabeled"}, "action": "delete"}, "?dry_run=1")

    assert response.status_code == 200
    assert response.json() == {"action": "delete", "affected": 2, "dry_run": True}
    assert Image.objects.filter(project=project).count() == 3

    done = bulk(api_client, project, {"filter": {"label": "unlabeled"}, "action": "delete"})
    assert done.json() == {"action": "delete", "affected": 2, "dry_run": False}
    assert list(Image.objects.filter(project=project).values_list("label", flat=True)) == ["good"]


def test_a_dry_run_of_a_label_change_changes_nothing(api_client, project, images):
    response = bulk(
        api_client, project, {"ids": [i.pk for i in images], "action": "label", "value": "good"}, "?dry_run=1"
    )

    assert response.json()["affected"] == 3
    assert Image.objects.filter(project=project, label=Label.GOOD).count() == 1


def test_a_bad_dry_run_value_is_400(api_client, project, images):
    response = bulk(api_client, project, {"ids": [images[0].pk], "action": "delete"}, "?dry_run=perhaps")
    assert response.status_code == 400 and "dry_run" in response.json()["detail"]
    assert Image.objects.filter(project=project).count() == 3


@pytest.mark.parametrize(
    "query, name",
    [
        ("has_mask=yes", "has_mask"),
        ("lable=good", "lable"),
        ("label=good&colour=red", "colour"),
        ("ids=1,x", "ids"),
        ("page_size=abc", "page_size"),
        ("page_size=0", "page_size"),
        ("page=-1", "page"),
    ],
)
def test_the_gallery_refuses_unknown_keys_and_bad_values_by_name(api_client, project, images, query, name):
    response = api_client.get(f"/api/v1/projects/{project.pk}/images/?{query}")

    assert response.status_code == 400
    assert name in response.json()["detail"]


@pytest.mark.parametrize("query", ["label=good&label=defective", "defect_type=crack&defect_type=pit", "page=1&page=2"])
def test_a_query_key_given_twice_is_400_not_read_as_its_last_value(api_client, project, images, query):
    """`?defect_type=crack&defect_type=pit` (a client's list parameter) would list pits only, silently."""
    response = api_client.get(f"/api/v1/projects/{project.pk}/images/?{query}")

    assert response.status_code == 400
    key = query.split("=")[0]
    assert f"Query parameter {key!r} is given 2 times" in response.json()["detail"]
    assert "comma-separated" in response.json()["detail"]
    assert api_client.get(f"/api/v1/projects/{project.pk}/images/?defect_type=crack,pit").status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/projects/?sort=name",
        "/api/v1/projects/{p}/members/?role=viewer",
        "/api/v1/projects/{p}/defect-types/?name=crack",
        "/api/v1/projects/{p}/imports/?status=failed",
        "/api/v1/projects/{p}/training-jobs/?status=running",
        "/api/v1/projects/{p}/models/?is_active=true",
        "/api/v1/projects/{p}/inference-batches/?status=queued",
    ],
)
def test_every_list_refuses_an_unknown_filter_key(api_client, project, path):
    response = api_client.get(path.format(p=project.pk))

    assert response.status_code == 400
    assert path.rsplit("?", 1)[1].split("=")[0] in response.json()["detail"]


def test_lists_still_take_their_page_parameters(api_client, project, images):
    response = api_client.get(f"/api/v1/projects/{project.pk}/images/?page=1&page_size=2&label=unlabeled")
    assert response.status_code == 200 and response.json()["count"] == 2


# ---------------------------------------------------------------- item 5: never a 500


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/projects/99999999999999999999/",
        "/api/v1/projects/9223372036854775808/images/",
        "/api/v1/images/99999999999999999999/",
        "/api/v1/models/9223372036854775808/",
        "/api/v1/training-jobs/99999999999999999999/",
        "/api/v1/inference-batches/99999999999999999999/results/",
    ],
)
def test_path_ids_beyond_64_bits_are_404(api_client, path):
    response = api_client.get(path)
    assert response.status_code == 404 and response.json()["detail"]


def test_deleting_a_member_id_beyond_64_bits_is_404(api_client, project):
    response = api_client.delete(f"/api/v1/projects/{project.pk}/members/99999999999999999999/")
    assert response.status_code == 404 and response.json()["detail"]


def test_gallery_ids_beyond_64_bits_are_400(api_client, project, images):
    response = api_client.get(f"/api/v1/projects/{project.pk}/images/?ids=9223372036854775808")
    assert response.status_code == 400 and "ids" in response.json()["detail"]


@pytest.mark.parametrize("value", ["1e20", "100000000000000000000", "-1"])
def test_bulk_ids_beyond_64_bits_are_400(api_client, project, images, value):
    body = '{"ids": [' + value + '], "action": "delete"}'
    response = api_client.post(f"/api/v1/projects/{project.pk}/images/bulk/", body, content_type="application/json")
    assert response.status_code == 400 and "ids" in response.json()["detail"]
    assert Image.objects.filter(project=project).count() == 3


def test_a_member_user_id_beyond_64_bits_is_400(api_client, project):
    response = api_client.post(
        f"/api/v1/projects/{project.pk}/members/", {"user_id": 10**20, "role": "viewer"}, format="json"
    )
    assert response.status_code == 400 and "user_id" in response.json()["detail"]


@pytest.mark.parametrize("query", ["page=99999999999999999999", "page_size=99999999999999999999", "page=1e400"])
def test_huge_page_numbers_are_4xx(api_client, project, images, query):
    response = api_client.get(f"/api/v1/projects/{project.pk}/images/?{query}")
    assert 400 <= response.status_code < 500 and response.json()["detail"]


def test_more_files_than_the_limit_is_413(api_client, project, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 3
    files = [SimpleUploadedFile(f"{i}.png", image_bytes(color=(i, 0, 0))) for i in range(4)]

    response = api_client.post(f"/api/v1/projects/{project.pk}/images/", {"files": files}, format="multipart")

    assert response.status_code == 413 and "3" in response.json()["detail"]
    assert not Image.objects.filter(project=project).exists()


def test_json_nested_100000_deep_is_400(api_client, project, images):
    body = '{"ids": ' + "[" * 100_000 + "]" * 100_000 + ', "action": "delete"}'
    response = api_client.post(f"/api/v1/projects/{project.pk}/images/bulk/", body, content_type="application/json")

    assert response.status_code == 400 and response.json()["detail"]
    assert Image.objects.filter(project=project).count() == 3


def test_deep_json_elsewhere_is_400_too(api_client, project):
    body = json.dumps({"name": "x"})[:-1] + ', "description": ' + "[" * 100_000 + "]" * 100_000 + "}"
    response = api_client.patch(f"/api/v1/projects/{project.pk}/", body, content_type="application/json")
    assert response.status_code == 400


# ---------------------------------------------------------------- item 11: activation leaves the threshold alone


def test_activate_refuses_a_body_and_keeps_the_threshold(api_client, project):
    version = ModelVersionFactory(project=project, threshold=0.5)

    response = api_client.post(f"/api/v1/models/{version.pk}/activate/", {"threshold": 0.9}, format="json")

    assert response.status_code == 400 and "threshold" in response.json()["detail"]
    version.refresh_from_db()
    assert version.threshold == 0.5 and version.is_active is False


def test_activate_without_a_body_works_and_patch_through_it_is_405(api_client, project, member_client):
    version = ModelVersionFactory(project=project, threshold=0.5)

    assert (
        api_client.patch(f"/api/v1/models/{version.pk}/activate/", {"threshold": 0.9}, format="json").status_code == 405
    )
    response = api_client.post(f"/api/v1/models/{version.pk}/activate/")

    assert response.status_code == 200 and response.json()["is_active"] is True
    version.refresh_from_db()
    assert version.threshold == 0.5
    assert member_client(Role.VIEWER).post(f"/api/v1/models/{version.pk}/activate/").status_code == 403


# ---------------------------------------------------------------- every endpoint, not only the lists


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/projects/{p}/?x=1",
        "/api/v1/projects/{p}/training-status/?x=1",
        "/api/v1/images/{i}/?verbose=1",
        "/api/v1/images/{i}/prediction/?version=1",
        "/api/v1/images/{i}/mask/?x=1",
        "/api/v1/images/{i}/file/?size=small",
        "/api/v1/models/{m}/?x=1",
    ],
)
def test_an_endpoint_that_takes_no_such_query_parameter_says_so(api_client, project, images, path):
    version = ModelVersionFactory(project=project, is_active=True)
    url = path.format(p=project.pk, i=images[0].pk, m=version.pk)

    response = api_client.get(url)

    assert response.status_code == 400 and "Unknown query parameter" in response.json()["detail"]


def test_a_prediction_of_a_chosen_version_is_that_versions_not_the_active_ones(api_client, project, images):
    from .factories import PredictionFactory

    old = ModelVersionFactory(project=project, version=1, is_active=False)
    active = ModelVersionFactory(project=project, version=2, is_active=True)
    PredictionFactory(model_version=old, image=images[0], score=0.25)
    PredictionFactory(model_version=active, image=images[0], score=0.75)
    url = f"/api/v1/images/{images[0].pk}/prediction/"

    assert api_client.get(url).json()["model"] == active.pk
    chosen = api_client.get(f"{url}?model={old.pk}").json()
    assert (chosen["model"], chosen["score"]) == (old.pk, 0.25)
    unscored = api_client.get(f"/api/v1/images/{images[1].pk}/prediction/?model={old.pk}")
    assert unscored.status_code == 404 and "has not scored this image" in unscored.json()["detail"]
    other = ModelVersionFactory()  # another project's version
    assert api_client.get(f"{url}?model={other.pk}").status_code == 404
    assert api_client.get(f"{url}?model=abc").status_code == 400


@pytest.mark.parametrize("value", ["no", "off", "n", "f", "yes", 2, "maybe"])
def test_a_bulk_filter_boolean_follows_the_gallerys_rule(api_client, project, images, value):
    """`has_mask: "no"` is 400 in a bulk filter as in the gallery's query, not a filter that selects something."""
    response = bulk(api_client, project, {"filter": {"has_mask": value}, "action": "delete"})

    assert response.status_code == 400 and "not a boolean; use true or false" in response.json()["detail"]
    assert Image.objects.filter(project=project).count() == 3


def test_a_bulk_filter_takes_true_false_1_and_0(api_client, project, images):
    for value in (False, "false", 0, "0"):
        response = bulk(api_client, project, {"filter": {"has_mask": value}, "action": "delete"}, "?dry_run=true")
        assert response.status_code == 200 and response.json()["affected"] == 3


def test_an_empty_if_match_is_400_and_writes_nothing(api_client, project, images):
    image = images[1]

    response = api_client.patch(f"/api/v1/images/{image.pk}/", {"label": "good"}, format="json", HTTP_IF_MATCH='""')

    assert response.status_code == 400 and "If-Match header is empty" in response.json()["detail"]
    assert Image.objects.get(pk=image.pk).label == Label.UNLABELED
