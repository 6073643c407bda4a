"""Imports apply what they know: re-imported images (same bytes), defect types, the archive's manifest.csv."""

import pytest

from webapp.core.exceptions import NotFound
from webapp.datasets import reimport, services
from webapp.datasets.manifest import Known
from webapp.datasets.models import Image, ImportStatus, Label, Mask, Split

from .conftest import image_bytes, mask_png
from .test_imports import build_zip, mvtec_zip, run, tile

pytestmark = pytest.mark.django_db


def rows(project) -> dict[str, tuple]:
    return {
        image.sha256[:8]: (image.label, image.split, image.split_locked, image.has_mask, image.defect_type)
        for image in project.images.all()
    }


def by_bytes(project, data: bytes) -> Image:
    import hashlib

    return project.images.get(sha256=hashlib.sha256(data).hexdigest())


def test_new_images_keep_the_mvtec_folder_as_defect_type(project, user):
    job = run(project, user, mvtec_zip())

    assert job.status == ImportStatus.SUCCEEDED, job.error
    types = dict(project.images.values_list("filename", "defect_type"))
    assert types == {
        "000.png": None,
        "001.png": None,
        "002.png": None,
        "010.png": "crack",
        "011.png": "crack",
        "012.png": "crack",
        "013.jpg": "hole",
    }
    assert (job.updated, job.kept) == (0, 0)


def test_reimporting_unlabeled_images_applies_labels_splits_masks_and_defect_types(project, user):
    flat = run(project, user, build_zip({f"upload_{n}.png": tile(n) for n in range(1, 7)}))
    assert flat.created == 6 and set(project.images.values_list("label", flat=True)) == {"unlabeled"}
    project.refresh_from_db()
    labels_before = project.labels_since_training

    job = run(project, user, mvtec_zip())

    assert job.status == ImportStatus.SUCCEEDED, job.error
    assert (job.created, job.duplicates, job.updated, job.kept, job.masks) == (1, 6, 6, 0, 2)
    assert by_bytes(project, tile(1)).label == Label.GOOD  # train/good/000.png
    expected = {
        tile(1): ("good", "train", True, False, None),
        tile(2): ("good", "train", True, False, None),
        tile(3): ("defective", "train", True, True, "crack"),
        tile(4): ("good", "test", True, False, None),
        tile(5): ("defective", "test", True, True, "crack"),
        tile(6): ("defective", "test", True, False, "crack"),  # its mask is empty: reported, no mask
    }
    for data, row in expected.items():
        image = by_bytes(project, data)
        assert (image.label, image.split, image.split_locked, image.has_mask, image.defect_type) == row
        assert image.filename.startswith("upload_")  # still the same rows
    assert Mask.objects.get(image=by_bytes(project, tile(5))).area == 16
    assert any("empty mask" in entry["reason"] for entry in job.skipped)
    project.refresh_from_db()
    # 7 new labels (6 known images + the new 013.jpg) and 2 masks feed automatic retraining.
    assert project.labels_since_training - labels_before == 7 + 2

    again = run(project, user, mvtec_zip())  # nothing left to learn: neither count moves
    assert (again.created, again.duplicates, again.updated, again.kept, again.masks) == (0, 7, 0, 0, 0)


def test_a_persons_choices_are_kept_and_counted(project, user):
    labelled_good, _ = services.image_create(project=project, filename="a.png", data=tile(3))  # train/crack/010
    services.image_update(image=labelled_good, label=Label.GOOD, split=Split.TEST)
    moved, _ = services.image_create(project=project, filename="b.png", data=tile(5))  # test/crack/011 (+ mask)
    services.image_update(image=moved, label=Label.DEFECTIVE, split=Split.TRAIN)
    typed, _ = services.image_create(project=project, filename="c.png", data=tile(6))  # test/crack/012
    services.image_update(image=typed, defect_type="scratch")
    project.refresh_from_db()
    labels_before = project.labels_since_training

    job = run(project, user, mvtec_zip())

    assert job.status == ImportStatus.SUCCEEDED, job.error
    assert (job.created, job.duplicates) == (4, 3)
    assert job.kept == 3  # a: label and split; b: split; c: defect type
    assert job.updated == 2  # b: mask and defect type; c: label and split
    labelled_good.refresh_from_db()
    assert (labelled_good.label, labelled_good.split, labelled_good.has_mask, labelled_good.defect_type) == (
        "good",
        "test",
        False,
        None,
    )
    moved.refresh_from_db()
    assert (moved.label, moved.split, moved.has_mask, moved.defect_type) == ("defective", "train", True, "crack")
    typed.refresh_from_db()
    assert (typed.label, typed.split, typed.split_locked, typed.defect_type) == ("defective", "test", True, "scratch")
    project.refresh_from_db()
    # New: 000, 001, 002 good and 013 defective; c's first label; b's mask (a's mask is not taken: a is good).
    assert project.labels_since_training - labels_before == 4 + 1 + 1


def test_a_bad_mask_for_a_known_image_is_reported_and_the_label_still_applied(project, user):
    known, _ = services.image_create(project=project, filename="x.jpg", data=image_bytes("JPEG", size=(16, 12)))

    job = run(project, user, mvtec_zip())  # its mask, ground_truth/hole/013_mask.png, is 10x10

    known.refresh_from_db()
    assert (known.label, known.defect_type, known.has_mask) == ("defective", "hole", False)
    assert job.updated == 1
    assert [entry["name"] for entry in job.errors] == ["tiles/ground_truth/hole/013_mask.png"]


def test_the_api_reports_updated_and_kept(api_client, project, user):
    services.image_create(project=project, filename="a.png", data=tile(1))
    person, _ = services.image_create(project=project, filename="b.png", data=tile(2))
    services.image_update(image=person, label=Label.DEFECTIVE, split=Split.TEST)  # the archive: train/good
    job = run(project, user, mvtec_zip())

    body = api_client.get(f"/api/v1/imports/{job.pk}/").json()
    assert (body["duplicates"], body["updated"], body["kept"]) == (2, 1, 1)
    listed = api_client.get(f"/api/v1/projects/{project.pk}/imports/").json()["results"][0]
    assert (listed["updated"], listed["kept"]) == (1, 1)
    schema = api_client.get("/api/v1/schema/?format=json").json()
    assert {"updated", "kept"} <= set(schema["components"]["schemas"]["ImportJob"]["properties"])


def test_apply_known_refuses_a_deleted_image(project):
    image, _ = services.image_create(project=project, filename="a.png", data=tile(1))
    services.image_delete(image=image)
    with pytest.raises(NotFound):
        reimport.apply_known(project=project, image=image, known=Known(Label.GOOD))


# ---------------------------------------------------------------- manifest.csv


def test_a_flat_zip_with_a_manifest_brings_labels_splits_and_defect_types(project, user):
    manifest = (
        "filename,label,split,defect_type,notes\n"
        "a.png,defective,test,broken_large,first\n"
        "sub/b.png,good,,,\n"
        "c.png,,,scratch,\n"
        "d.png,meh,,,\n"
        "e.png,good,validation,,\n"
        "missing.png,good,,,\n"
        "../up.png,good,,,\n"
    )
    data = build_zip(
        {
            "manifest.csv": manifest.encode(),
            "a.png": tile(1),
            "sub/b.png": tile(2),
            "c.png": tile(3),
            "d.png": tile(4),
            "e.png": tile(5),
            "f.png": tile(6),
        }
    )

    job = run(project, user, data)

    assert job.status == ImportStatus.SUCCEEDED, job.error
    assert job.created == 6
    got = {i.filename: (i.label, i.split, i.split_locked, i.defect_type) for i in project.images.all()}
    assert got["a.png"] == ("defective", "test", True, "broken_large")
    assert got["b.png"][:1] == ("good",) and got["b.png"][2:] == (False, None)  # split: the split policy's
    assert got["c.png"] == ("unlabeled", "train", False, "scratch")
    assert got["d.png"] == got["e.png"] == got["f.png"] == ("unlabeled", "train", False, None)
    errors = {entry["name"]: entry["reason"] for entry in job.errors}
    assert "label 'meh'" in errors["manifest.csv line 5"]
    assert "split 'validation'" in errors["manifest.csv line 6"]
    assert "relative" in errors["manifest.csv line 8"]
    skipped = {entry["name"]: entry["reason"] for entry in job.skipped}
    assert "missing.png" in skipped["manifest.csv line 7"]
    assert "manifest.csv" not in skipped  # consumed, not "not an image file"
    project.refresh_from_db()
    assert project.labels_since_training == 2


def test_a_manifest_in_an_mvtec_archive_adds_to_the_folders(project, user):
    manifest = "image,defect_type,split\ntest/crack/011.png,hairline_crack,\ntrain/good/000.png,good,test\n"
    data = build_zip(
        {
            "tiles/manifest.csv": manifest.encode(),
            "tiles/train/good/000.png": tile(1),
            "tiles/test/crack/011.png": tile(5),
            "tiles/test/crack/012.png": tile(6),
            "tiles/ground_truth/crack/011_mask.png": mask_png(16, 12),
            "tiles/deeper/manifest.csv": b"image,label\n",
        }
    )

    job = run(project, user, data)

    got = {i.filename: (i.label, i.split, i.has_mask, i.defect_type) for i in project.images.all()}
    assert got == {
        "000.png": ("good", "test", False, None),  # a good image has no defect type
        "011.png": ("defective", "test", True, "hairline_crack"),
        "012.png": ("defective", "test", False, "crack"),
    }
    skipped = {entry["name"]: entry["reason"] for entry in job.skipped}
    assert "another manifest" in skipped["tiles/deeper/manifest.csv"]
    assert "tiles/manifest.csv" not in skipped


@pytest.mark.parametrize(
    ("content", "reason"),
    [(b"name,label\na.png,good\n", "`image` or `filename` column"), (b"image,label\n\xff\xfe,good\n", "UTF-8")],
)
def test_an_unusable_manifest_is_reported_and_the_images_still_imported(project, user, content, reason):
    job = run(project, user, build_zip({"manifest.csv": content, "a.png": tile(1)}))

    assert job.status == ImportStatus.SUCCEEDED and job.created == 1
    assert reason in job.errors[0]["reason"] and job.errors[0]["name"] == "manifest.csv"
    assert project.images.get().label == Label.UNLABELED


def test_defect_types_from_archives_are_made_valid(project, user):
    manifest = 'image,label,defect_type\na.png,defective," dent, deep "\nb.png,defective,' + "x" * 80 + "\n"
    job = run(project, user, build_zip({"manifest.csv": manifest.encode(), "a.png": tile(1), "b.png": tile(2)}))

    assert job.errors == []
    assert set(project.images.values_list("defect_type", flat=True)) == {"dent deep", "x" * 64}
