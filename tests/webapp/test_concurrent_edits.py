"""Two people edit the same image: a write conditional on the revision it read (`If-Match`) never overwrites a
newer edit silently. It is 412 with what the image is now, and nothing is written."""

import pytest

from webapp.datasets.models import Image, Mask

from .conftest import mask_png, put_mask
from .factories import ImageFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def two(project, api_client, member_client):
    """The owner and a labeller of the project, both looking at the same unlabelled image."""
    image = ImageFactory(project=project, label="unlabeled", width=8, height=6)
    other = member_client()
    revision = api_client.get(f"/api/v1/images/{image.pk}/").json()["revision"]
    assert other.get(f"/api/v1/images/{image.pk}/").json()["revision"] == revision
    return image, api_client, other, revision


def patch(client, image, body, revision=None):
    headers = {"HTTP_IF_MATCH": f'"{revision}"'} if revision else {}
    return client.patch(f"/api/v1/images/{image.pk}/", body, format="json", **headers)


def test_a_label_on_an_older_revision_is_412_and_the_newer_label_stays(two):
    image, alice, bob, revision = two
    first = patch(bob, image, {"label": "defective"}, revision)
    assert first.status_code == 200 and first.json()["revision"] != revision

    late = patch(alice, image, {"label": "good"}, revision)

    assert late.status_code == 412
    assert "Someone else changed this image since you opened it (it is now defective" in late.json()["detail"]
    assert Image.objects.get(pk=image.pk).label == "defective"
    # with the revision she reads now, her edit goes through
    now = alice.get(f"/api/v1/images/{image.pk}/").json()["revision"]
    assert patch(alice, image, {"label": "good"}, now).status_code == 200


def test_a_mask_saved_over_an_older_revision_is_412_and_stores_nothing(two):
    image, alice, bob, revision = two
    assert put_mask(bob, image, mask_png(8, 6, box=(0, 0, 2, 2))).status_code == 200
    bobs = Mask.objects.get(image=image).file.name

    late = alice.put(
        f"/api/v1/images/{image.pk}/mask/",
        mask_png(8, 6, box=(4, 2, 8, 6)),
        content_type="image/png",
        HTTP_IF_MATCH=revision,
    )

    assert late.status_code == 412 and "a mask" in late.json()["detail"]
    assert Mask.objects.get(image=image).file.name == bobs


def test_a_mask_removed_from_an_older_revision_is_412_and_the_mask_stays(two):
    image, alice, bob, _ = two
    put_mask(alice, image)
    seen = alice.get(f"/api/v1/images/{image.pk}/").json()["revision"]
    assert put_mask(bob, image, mask_png(8, 6, box=(0, 0, 5, 5))).status_code == 200  # bob repaints

    late = alice.delete(f"/api/v1/images/{image.pk}/mask/", HTTP_IF_MATCH=seen)

    assert late.status_code == 412
    assert Image.objects.get(pk=image.pk).has_mask


def test_relabelling_good_on_an_older_revision_does_not_drop_a_newer_mask(two):
    """A stale page pressing Good must not silently delete the mask someone painted meanwhile."""
    image, alice, bob, revision = two
    assert put_mask(bob, image).status_code == 200

    assert patch(alice, image, {"label": "good"}, revision).status_code == 412
    assert Image.objects.get(pk=image.pk).has_mask


def test_without_if_match_writes_stay_unconditional(two):
    image, alice, bob, _ = two
    patch(bob, image, {"label": "defective"})

    assert patch(alice, image, {"label": "good"}).status_code == 200  # scripts that never read a revision
    assert Image.objects.get(pk=image.pk).label == "good"


def test_every_change_moves_the_revision(two):
    image, alice, _, revision = two
    seen = [revision]
    for body in ({"label": "defective"}, {"defect_type": "crack"}, {"split": "test"}):
        seen.append(patch(alice, image, body, seen[-1]).json()["revision"])
    seen.append(put_mask(alice, image).json()["revision"])
    alice.delete(f"/api/v1/images/{image.pk}/mask/", HTTP_IF_MATCH=seen[-1])
    seen.append(alice.get(f"/api/v1/images/{image.pk}/").json()["revision"])

    assert len(set(seen)) == len(seen)
