"""The gallery: filters, ordering by score, predictions, detail, PATCH, DELETE, bulk, label side effects."""

import pytest

from webapp.datasets.models import Image, Label, Mask, Project, Role, Split
from webapp.datasets.signals import labels_changed

from .conftest import collect_unreferenced, put_mask, stored_files
from .factories import ImageFactory, ProjectFactory

pytestmark = pytest.mark.django_db


def make_model(project, threshold=0.5, active=True, version=1):
    from webapp.training.models import ModelVersion

    return ModelVersion.objects.create(
        project=project,
        version=version,
        mode="unsupervised",
        backbone="efficientnet_lite0",
        image_size=256,
        threshold=threshold,
        is_active=active,
        checkpoint="models/x.pt",
    )


def predict(image, model, score):
    from webapp.training.models import Prediction

    return Prediction.objects.create(image=image, model_version=model, score=score, heatmap=f"heatmaps/{image.pk}.png")


def ids(response):
    assert response.status_code == 200, response.json()
    return [entry["id"] for entry in response.json()["results"]]


@pytest.fixture
def gallery(project):
    """Five images: labels, splits, a mask, and scores from the active (and an inactive) model."""
    good = ImageFactory(project=project, label=Label.GOOD)
    bad = ImageFactory(project=project, label=Label.DEFECTIVE, has_mask=True, split=Split.TEST)
    weak = ImageFactory(project=project, label=Label.DEFECTIVE)
    new = ImageFactory(project=project)
    unscored = ImageFactory(project=project)
    old, active = make_model(project, active=False, version=1), make_model(project, threshold=0.5, version=2)
    predict(good, active, 0.1)
    predict(bad, active, 0.9)
    predict(weak, active, 0.6)
    predict(new, active, 0.3)
    predict(unscored, old, 0.99)  # an inactive model's score does not count
    return {"good": good, "bad": bad, "weak": weak, "new": new, "unscored": unscored, "model": active}


def test_it_lists_newest_first_with_the_contract_fields(api_client, project, gallery):
    response = api_client.get(f"/api/v1/projects/{project.pk}/images/")

    assert ids(response) == [gallery[k].pk for k in ("unscored", "new", "weak", "bad", "good")]
    entry = response.json()["results"][3]
    assert set(entry) >= {
        "id",
        "project",
        "filename",
        "width",
        "height",
        "sha256",
        "label",
        "split",
        "has_mask",
        "created_at",
        "file_url",
        "thumbnail_url",
        "prediction",
    }
    assert entry["project"] == project.pk and entry["has_mask"] is True
    assert entry["file_url"].endswith(f"/api/v1/images/{gallery['bad'].pk}/file/")
    prediction = entry["prediction"]
    assert (
        prediction["model"] == gallery["model"].pk and prediction["score"] == 0.9 and prediction["is_defective"] is True
    )
    assert prediction["heatmap_url"].endswith("/heatmap/") and prediction["created_at"]
    assert response.json()["results"][0]["prediction"] is None


@pytest.mark.parametrize(
    "query, expected",
    [
        ("label=good", ["good"]),
        ("label=defective", ["weak", "bad"]),
        ("label=unlabeled", ["unscored", "new"]),
        ("split=test", ["bad"]),
        ("split=train", ["unscored", "new", "weak", "good"]),
        ("has_mask=true", ["bad"]),
        ("has_mask=false", ["unscored", "new", "weak", "good"]),
        ("predicted=defective", ["weak", "bad"]),
        ("predicted=good", ["new", "good"]),
        ("ordering=score", ["good", "new", "weak", "bad", "unscored"]),
        ("ordering=-score", ["bad", "weak", "new", "good", "unscored"]),
        ("ordering=created_at", ["good", "bad", "weak", "new", "unscored"]),
        ("label=unlabeled&ordering=-score", ["new", "unscored"]),
    ],
)
def test_filters_and_ordering(api_client, project, gallery, query, expected):
    response = api_client.get(f"/api/v1/projects/{project.pk}/images/?{query}")
    assert ids(response) == [gallery[name].pk for name in expected]


def test_ids_filter(api_client, project, gallery):
    wanted = f"{gallery['good'].pk},{gallery['new'].pk}"
    assert ids(api_client.get(f"/api/v1/projects/{project.pk}/images/?ids={wanted}&ordering=created_at")) == [
        gallery["good"].pk,
        gallery["new"].pk,
    ]


@pytest.mark.parametrize("query", ["label=broken", "split=val", "ordering=name", "predicted=maybe", "ids=a,b"])
def test_bad_filters_are_400(api_client, project, query):
    response = api_client.get(f"/api/v1/projects/{project.pk}/images/?{query}")
    assert response.status_code == 400
    assert response.json()["detail"].startswith("Invalid input.")


def test_without_an_active_model_score_ordering_still_works(api_client, project):
    first, second = ImageFactory(project=project), ImageFactory(project=project)
    assert ids(api_client.get(f"/api/v1/projects/{project.pk}/images/?ordering=score")) == [first.pk, second.pk]
    assert ids(api_client.get(f"/api/v1/projects/{project.pk}/images/?predicted=good")) == []


def test_the_list_does_not_grow_queries_with_the_page(api_client, project, django_assert_max_num_queries):
    model = make_model(project)
    for n in range(60):
        predict(ImageFactory(project=project, label=Label.GOOD), model, n / 60)

    with django_assert_max_num_queries(8):
        small = api_client.get(f"/api/v1/projects/{project.pk}/images/?page_size=5&ordering=-score")
    with django_assert_max_num_queries(8):
        large = api_client.get(f"/api/v1/projects/{project.pk}/images/?page_size=60&ordering=-score")

    assert len(small.json()["results"]) == 5 and len(large.json()["results"]) == 60
    assert all(entry["prediction"] for entry in large.json()["results"])


def test_pages_are_capped_at_500(api_client, project):
    response = api_client.get(f"/api/v1/projects/{project.pk}/images/?page_size=100000")
    assert response.status_code == 200


def test_image_detail_and_its_prediction(api_client, gallery):
    response = api_client.get(f"/api/v1/images/{gallery['weak'].pk}/")

    assert response.status_code == 200
    assert response.json()["prediction"]["score"] == 0.6
    assert api_client.get(f"/api/v1/images/{gallery['unscored'].pk}/").json()["prediction"] is None


def test_patch_label_and_split(api_client, project):
    image = ImageFactory(project=project)

    response = api_client.patch(f"/api/v1/images/{image.pk}/", {"label": "good", "split": "test"}, format="json")

    assert response.status_code == 200
    assert (response.json()["label"], response.json()["split"]) == ("good", "test")
    image.refresh_from_db()
    assert image.labeled_at is not None and image.split_locked


@pytest.mark.parametrize("payload", [{"label": "meh"}, {"split": "validation"}])
def test_patch_rejects_unknown_values(api_client, project, payload):
    image = ImageFactory(project=project)
    assert api_client.patch(f"/api/v1/images/{image.pk}/", payload, format="json").status_code == 400


def test_images_that_came_with_a_split_keep_it(api_client, project):
    imported = ImageFactory(project=project, split=Split.TRAIN, split_locked=True)
    project.test_fraction = 0.9
    project.save()

    api_client.patch(f"/api/v1/images/{imported.pk}/", {"label": "good"}, format="json")

    imported.refresh_from_db()
    assert imported.split == Split.TRAIN


def test_new_labels_count_towards_retraining_and_signal_after_commit(
    api_client, project, django_capture_on_commit_callbacks
):
    image, other = ImageFactory(project=project), ImageFactory(project=project)
    received = []

    def receiver(sender, project_id, **kwargs):
        received.append((sender, project_id))

    labels_changed.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            api_client.patch(f"/api/v1/images/{image.pk}/", {"label": "good"}, format="json")
            assert received == []  # nothing before the commit
        for callback in callbacks:
            callback()
        with django_capture_on_commit_callbacks(execute=True):
            api_client.patch(f"/api/v1/images/{other.pk}/", {"label": "defective"}, format="json")
            api_client.patch(f"/api/v1/images/{other.pk}/", {"split": "test"}, format="json")  # not a label
            api_client.patch(f"/api/v1/images/{other.pk}/", {"label": "defective"}, format="json")  # unchanged
    finally:
        labels_changed.disconnect(receiver)

    assert received == [(Project, project.pk), (Project, project.pk)]
    project.refresh_from_db()
    assert project.labels_since_training == 2


def test_labelling_an_image_good_drops_its_mask(api_client, project, settings, django_capture_on_commit_callbacks):
    image = ImageFactory(project=project, width=8, height=6)
    with django_capture_on_commit_callbacks(execute=True):
        assert put_mask(api_client, image).status_code == 200
        api_client.patch(f"/api/v1/images/{image.pk}/", {"label": "good"}, format="json")

    image.refresh_from_db()
    assert (image.label, image.has_mask) == ("good", False)
    assert not Mask.objects.filter(image=image).exists()
    # The file stays for snapshots that may name it, until the collector finds nothing refers to it.
    assert any(name.startswith("masks/") for name in stored_files(settings.MEDIA_ROOT))
    collect_unreferenced()
    assert not any(name.startswith("masks/") for name in stored_files(settings.MEDIA_ROOT))


def test_delete_removes_the_row_now_and_its_files_once_collected(
    api_client, project, settings, django_capture_on_commit_callbacks
):
    image = ImageFactory(project=project)
    assert len(stored_files(settings.MEDIA_ROOT)) == 2

    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.delete(f"/api/v1/images/{image.pk}/")

    assert response.status_code == 204
    assert not Image.objects.filter(pk=image.pk).exists()
    assert len(stored_files(settings.MEDIA_ROOT)) == 2  # a running training may still read them
    collect_unreferenced()
    assert stored_files(settings.MEDIA_ROOT) == []
    assert api_client.get(f"/api/v1/images/{image.pk}/").status_code == 404


def test_roles_on_single_images(project, member_client, outsider_client):
    image = ImageFactory(project=project)
    viewer, labeller = member_client(Role.VIEWER), member_client(Role.LABELLER)

    assert viewer.get(f"/api/v1/images/{image.pk}/").status_code == 200
    assert viewer.get(f"/api/v1/images/{image.pk}/file/").status_code == 200
    assert viewer.patch(f"/api/v1/images/{image.pk}/", {"label": "good"}, format="json").status_code == 403
    assert viewer.delete(f"/api/v1/images/{image.pk}/").status_code == 403
    assert labeller.patch(f"/api/v1/images/{image.pk}/", {"label": "good"}, format="json").status_code == 200
    for path in ("", "file/", "thumbnail/", "mask/"):
        assert outsider_client.get(f"/api/v1/images/{image.pk}/{path}").status_code == 404
    assert outsider_client.get(f"/api/v1/projects/{project.pk}/images/").status_code == 404


# ---------------------------------------------------------------- bulk


def bulk(client, project, payload):
    return client.post(f"/api/v1/projects/{project.pk}/images/bulk/", payload, format="json")


def test_bulk_label_by_ids(api_client, project, django_capture_on_commit_callbacks):
    images = [ImageFactory(project=project) for _ in range(3)]

    with django_capture_on_commit_callbacks(execute=True):
        response = bulk(api_client, project, {"ids": [images[0].pk, images[1].pk], "action": "label", "value": "good"})

    assert response.status_code == 200 and response.json() == {"action": "label", "affected": 2, "dry_run": False}
    assert sorted(project.images.values_list("label", flat=True)) == ["good", "good", "unlabeled"]
    project.refresh_from_db()
    assert project.labels_since_training == 2


def test_bulk_by_filter(api_client, project, gallery):
    response = bulk(api_client, project, {"filter": {"label": "unlabeled"}, "action": "split", "value": "test"})

    assert response.json()["affected"] == 2
    assert set(project.images.filter(split="test").values_list("pk", flat=True)) == {
        gallery["bad"].pk,
        gallery["new"].pk,
        gallery["unscored"].pk,
    }


def test_bulk_filter_values_may_be_empty_or_strings(api_client, project, gallery):
    response = bulk(
        api_client, project, {"filter": {"label": "", "has_mask": "true"}, "action": "split", "value": "train"}
    )
    assert response.status_code == 200 and response.json()["affected"] == 1
    assert Image.objects.get(pk=gallery["bad"].pk).split == "train"


def test_bulk_by_prediction_filter(api_client, project, gallery):
    response = bulk(
        api_client,
        project,
        {"filter": {"predicted": "defective", "has_mask": False}, "action": "label", "value": "good"},
    )
    assert response.json()["affected"] == 1
    assert Image.objects.get(pk=gallery["weak"].pk).label == "good"


def test_bulk_delete_only_touches_the_project(api_client, project, settings, django_capture_on_commit_callbacks):
    mine = ImageFactory(project=project)
    foreign = ImageFactory(project=ProjectFactory())

    with django_capture_on_commit_callbacks(execute=True):
        response = bulk(api_client, project, {"ids": [mine.pk, foreign.pk], "action": "delete"})

    assert response.json()["affected"] == 1
    assert list(Image.objects.values_list("pk", flat=True)) == [foreign.pk]
    collect_unreferenced()
    assert stored_files(settings.MEDIA_ROOT) == sorted([foreign.file.name, foreign.thumbnail.name])


@pytest.mark.parametrize(
    "payload",
    [
        {"action": "label", "value": "good"},
        {"ids": [1], "filter": {}, "action": "label", "value": "good"},
        {"ids": [1], "action": "label", "value": "purple"},
        {"ids": [1], "action": "split"},
        {"ids": [1], "action": "explode"},
    ],
)
def test_bad_bulk_requests_are_400(api_client, project, payload):
    response = bulk(api_client, project, payload)
    assert response.status_code == 400
    assert response.json()["detail"]


def test_viewers_cannot_bulk(project, member_client):
    image = ImageFactory(project=project)
    assert bulk(member_client(Role.VIEWER), project, {"ids": [image.pk], "action": "delete"}).status_code == 403
    assert Image.objects.filter(pk=image.pk).exists()


def test_a_file_missing_from_storage_is_404_not_500(api_client, project):
    from django.core.files.storage import default_storage

    image = ImageFactory(project=project)
    default_storage.delete(image.file.name)

    response = api_client.get(f"/api/v1/images/{image.pk}/file/")

    assert response.status_code == 404 and "missing" in response.json()["detail"]


def test_bulk_delete_of_many_images(api_client, project, settings, django_capture_on_commit_callbacks):
    Image.objects.bulk_create(
        [
            Image(
                project=project,
                file=f"images/00/{n:064d}.png",
                thumbnail="",
                filename=f"{n}.png",
                sha256=f"{n:064d}",
                width=8,
                height=8,
            )
            for n in range(1200)
        ]
    )

    with django_capture_on_commit_callbacks(execute=True):
        response = bulk(api_client, project, {"filter": {"label": "unlabeled"}, "action": "delete"})

    assert response.json() == {"action": "delete", "affected": 1200, "dry_run": False}
    assert project.images.count() == 0


def test_bulk_label_of_many_images_takes_a_few_queries_and_stratifies(
    api_client, project, django_capture_on_commit_callbacks, django_assert_max_num_queries
):
    # given 2,000 unlabeled images with no split chosen by anyone
    Image.objects.bulk_create(
        [
            Image(
                project=project,
                file=f"images/00/{n:064d}.png",
                filename=f"{n}.png",
                sha256=f"{n:064d}",
                width=8,
                height=8,
            )
            for n in range(2000)
        ]
    )

    # when all of them are labelled good in one action
    with django_capture_on_commit_callbacks(execute=True), django_assert_max_num_queries(60):
        response = bulk(api_client, project, {"filter": {"label": "unlabeled"}, "action": "label", "value": "good"})

    # then every image is good, the held-out share is the project's test fraction, and the counter moved
    assert response.json() == {"action": "label", "affected": 2000, "dry_run": False}
    assert project.images.filter(label="good").count() == 2000
    # (the first SPLIT_MIN_TEST_PER_LABEL go to test unconditionally, then each by its hash)
    test = project.images.filter(split="test").count()
    assert abs(test - round(2000 * project.test_fraction)) < 60
    project.refresh_from_db()
    assert project.labels_since_training == 2000
