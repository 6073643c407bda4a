"""Defect types through the API: the image payload, the `defect_type=` list filter, PATCH, bulk, the project's list."""

import pytest

from webapp.datasets.models import Image, Label, Role

from .factories import ImageFactory, ProjectFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def typed(project):
    return {
        "crack": ImageFactory(project=project, label=Label.DEFECTIVE, defect_type="crack"),
        "crack2": ImageFactory(project=project, label=Label.DEFECTIVE, defect_type="crack"),
        "hole": ImageFactory(project=project, label=Label.DEFECTIVE, defect_type="broken_large"),
        "none": ImageFactory(project=project, label=Label.DEFECTIVE),
        "good": ImageFactory(project=project, label=Label.GOOD),
    }


def listed(client, project, query: str):
    response = client.get(f"/api/v1/projects/{project.pk}/images/?{query}")
    assert response.status_code == 200, response.json()
    return {entry["id"] for entry in response.json()["results"]}


def test_the_payload_has_the_defect_type(api_client, project, typed):
    entries = {e["id"]: e for e in api_client.get(f"/api/v1/projects/{project.pk}/images/").json()["results"]}
    assert entries[typed["hole"].pk]["defect_type"] == "broken_large"
    assert entries[typed["none"].pk]["defect_type"] is None
    assert api_client.get(f"/api/v1/images/{typed['crack'].pk}/").json()["defect_type"] == "crack"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("defect_type=crack", {"crack", "crack2"}),
        ("defect_type=broken_large", {"hole"}),
        ("defect_type=crack,broken_large", {"crack", "crack2", "hole"}),
        ("defect_type=crack,%20broken_large,", {"crack", "crack2", "hole"}),
        ("defect_type=scratch", set()),
        ("defect_type=", {"crack", "crack2", "hole", "none", "good"}),
        ("defect_type=crack&label=good", set()),
    ],
)
def test_the_defect_type_filter(api_client, project, typed, query, expected):
    assert listed(api_client, project, query) == {typed[name].pk for name in expected}


@pytest.mark.parametrize("value", ["x" * 65, "crack,%01bad"])
def test_a_bad_defect_type_filter_is_400_naming_it(api_client, project, value):
    response = api_client.get(f"/api/v1/projects/{project.pk}/images/?defect_type={value}")
    assert response.status_code == 400
    body = response.json()
    assert "defect_type" in body["detail"] or "defect_type" in body.get("errors", {})


def test_patch_sets_and_clears_the_defect_type(api_client, project):
    image = ImageFactory(project=project, label=Label.DEFECTIVE)
    url = f"/api/v1/images/{image.pk}/"

    response = api_client.patch(url, {"defect_type": "  broken_large "}, format="json")
    assert response.status_code == 200 and response.json()["defect_type"] == "broken_large"
    assert response.json()["label"] == "defective"  # nothing else changes
    assert Image.objects.get(pk=image.pk).defect_type == "broken_large"

    assert api_client.patch(url, {"label": "defective"}, format="json").json()["defect_type"] == "broken_large"
    assert api_client.patch(url, {"defect_type": ""}, format="json").json()["defect_type"] is None
    api_client.patch(url, {"defect_type": "crack"}, format="json")
    assert api_client.patch(url, {"defect_type": None}, format="json").json()["defect_type"] is None
    assert Image.objects.get(pk=image.pk).defect_type is None


def test_patch_with_a_label_and_a_defect_type_sets_both(api_client, project):
    image = ImageFactory(project=project)
    body = api_client.patch(f"/api/v1/images/{image.pk}/", {"label": "defective", "defect_type": "dent"}, format="json")
    assert (body.json()["label"], body.json()["defect_type"]) == ("defective", "dent")


@pytest.mark.parametrize(
    ("value", "reason"),
    [("x" * 65, "64"), ("dent, deep", "commas"), ("tab\there", "control"), (5, "string"), (["a"], "string")],
)
def test_patch_refuses_bad_defect_types(api_client, project, value, reason):
    image = ImageFactory(project=project, defect_type="crack")
    response = api_client.patch(f"/api/v1/images/{image.pk}/", {"defect_type": value}, format="json")

    assert response.status_code == 400
    body = response.json()
    assert body["detail"] and reason in str(body["errors"]["defect_type"])
    assert Image.objects.get(pk=image.pk).defect_type == "crack"


def test_viewers_cannot_set_a_defect_type(project, member_client):
    image = ImageFactory(project=project)
    response = member_client(Role.VIEWER).patch(f"/api/v1/images/{image.pk}/", {"defect_type": "x"}, format="json")
    assert response.status_code == 403 and Image.objects.get(pk=image.pk).defect_type is None


@pytest.mark.parametrize("value", ["crack", ["crack"], "crack,"])
def test_bulk_by_a_defect_type_filter(api_client, project, typed, value):
    response = api_client.post(
        f"/api/v1/projects/{project.pk}/images/bulk/",
        {"filter": {"defect_type": value}, "action": "split", "value": "test"},
        format="json",
    )
    assert response.status_code == 200 and response.json()["affected"] == 2
    assert set(project.images.filter(split="test").values_list("pk", flat=True)) == {
        typed["crack"].pk,
        typed["crack2"].pk,
    }


@pytest.mark.parametrize("value", [5, ["ok", 3], "x" * 65])
def test_a_bad_bulk_defect_type_filter_is_400_and_changes_nothing(api_client, project, typed, value):
    response = api_client.post(
        f"/api/v1/projects/{project.pk}/images/bulk/",
        {"filter": {"defect_type": value}, "action": "delete"},
        format="json",
    )
    assert response.status_code == 400 and response.json()["detail"]
    assert project.images.count() == 5


def test_the_projects_defect_types_with_counts(api_client, project, typed, member_client, outsider_client):
    ImageFactory(project=ProjectFactory(), defect_type="elsewhere")
    url = f"/api/v1/projects/{project.pk}/defect-types/"

    body = api_client.get(url).json()
    assert body["count"] == 2
    assert body["results"] == [{"name": "broken_large", "count": 1}, {"name": "crack", "count": 2}]
    assert member_client(Role.VIEWER).get(url).status_code == 200
    assert outsider_client.get(url).status_code == 404


def test_labelling_an_image_good_clears_its_defect_type(api_client, typed):
    # given a typed defect; when a person decides it is good after all
    response = api_client.patch(f"/api/v1/images/{typed['crack'].pk}/", {"label": "good"}, format="json")

    # then it has no defect type (like its mask, the type only describes a defect)
    assert response.status_code == 200 and response.json()["defect_type"] is None
    assert Image.objects.get(pk=typed["crack"].pk).defect_type is None
    assert Image.objects.get(pk=typed["crack2"].pk).defect_type == "crack"


def test_a_type_sent_with_a_new_label_is_kept_and_an_unchanged_label_keeps_the_type(api_client, typed):
    url = f"/api/v1/images/{typed['crack'].pk}/"
    # A type sent in the same request is what the request asked for, whatever the label (API: any image may have one).
    response = api_client.patch(url, {"label": "good", "defect_type": "stain"}, format="json")
    assert response.status_code == 200 and response.json()["defect_type"] == "stain"
    assert Image.objects.get(pk=typed["crack"].pk).defect_type == "stain"
    # Saying "good" again changes nothing, so it does not take the type away.
    response = api_client.patch(url, {"label": "good"}, format="json")
    assert response.json()["defect_type"] == "stain"
    # Back to defective with a type: both are stored.
    response = api_client.patch(url, {"label": "defective", "defect_type": "crack"}, format="json")
    assert (response.json()["label"], response.json()["defect_type"]) == ("defective", "crack")


def test_a_bulk_relabel_clears_the_types_of_the_images_that_stop_being_defective(api_client, project, typed):
    body = {"ids": [typed["crack"].pk, typed["good"].pk], "action": "label", "value": "good"}
    Image.objects.filter(pk=typed["good"].pk).update(defect_type="noted")  # set on a good image by a PATCH
    response = api_client.post(f"/api/v1/projects/{project.pk}/images/bulk/", body, format="json")
    assert response.status_code == 200
    assert Image.objects.get(pk=typed["crack"].pk).defect_type is None
    assert Image.objects.get(pk=typed["good"].pk).defect_type == "noted"
