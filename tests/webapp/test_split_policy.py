"""The split policy: where a newly labelled image goes (docs/pipeline.md, "Split policy")."""

import pytest

from webapp.datasets.models import Image, Label, Split

from .factories import ImageFactory

pytestmark = pytest.mark.django_db


def _policy_split(project, image) -> str:
    from webapp.datasets.split_policy import hash_fraction

    return Split.TEST if hash_fraction(project.pk, image.sha256) < project.test_fraction else Split.TRAIN


def test_new_labels_fill_a_too_small_test_split_first(api_client, project, settings):
    # given a policy that wants 2 test images per label before it measures anything
    settings.SPLIT_MIN_TEST_PER_LABEL = 2
    project.test_fraction = 0.0
    project.save()
    images = [ImageFactory(project=project) for _ in range(6)]

    # when three images are labelled good and three defective
    for image in images[:3]:
        api_client.patch(f"/api/v1/images/{image.pk}/", {"label": "good"}, format="json")
    for image in images[3:]:
        api_client.patch(f"/api/v1/images/{image.pk}/", {"label": "defective"}, format="json")

    # then the first two of each label go to test, the rest train (test_fraction 0 adds none)
    splits = [Image.objects.get(pk=image.pk).split for image in images]
    assert splits == ["test", "test", "train", "test", "test", "train"]


def test_new_labels_go_to_test_by_hash_once_the_test_split_is_big_enough(api_client, project, settings):
    # given an imported project: 20 good test images and 179 good train images, as MVTec folders give
    settings.SPLIT_MIN_TEST_PER_LABEL = 10
    for split, count in ((Split.TEST, 20), (Split.TRAIN, 179)):
        for _ in range(count):
            ImageFactory(project=project, label=Label.GOOD, split=split, split_locked=True)
    new = [ImageFactory(project=project) for _ in range(40)]

    # when 40 new images are labelled good
    for image in new:
        assert api_client.patch(f"/api/v1/images/{image.pk}/", {"label": "good"}, format="json").status_code == 200

    # then each went where its hash says (about test_fraction of them), not all to test to top up the share
    got = {image.pk: Image.objects.get(pk=image.pk).split for image in new}
    assert got == {image.pk: _policy_split(project, image) for image in new}
    assert 0 < list(got.values()).count(Split.TEST) < 20
    # and the API says the split the image really has
    for image in new[:5]:
        assert api_client.get(f"/api/v1/images/{image.pk}/").json()["split"] == got[image.pk]


def test_the_policy_split_does_not_depend_on_the_order_of_labelling(api_client, project, settings):
    settings.SPLIT_MIN_TEST_PER_LABEL = 0
    images = [ImageFactory(project=project) for _ in range(30)]

    for image in reversed(images):
        api_client.patch(f"/api/v1/images/{image.pk}/", {"label": "defective"}, format="json")

    assert [Image.objects.get(pk=i.pk).split for i in images] == [_policy_split(project, i) for i in images]
