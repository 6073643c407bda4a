"""A failed training run explains itself: a sentence for people in `error`, the exception for engineers in
`error_detail`, never a server path (webapp/training/failures.py, written by the runner's except block)."""
# ruff: noqa: F811 - pytest fixtures imported from test_training_support are parameters here

import pytest
from django.core.files.storage import default_storage

from webapp.training import services
from webapp.training.models import JobStatus, TrainingJob
from webapp.training.runner import run_training_job

from .test_training_support import fake_ml, make_image, owner, sent, tproject  # noqa: F401

pytestmark = pytest.mark.django_db


def new_job(project, **kwargs) -> TrainingJob:
    return services.create_training_job(project=project, **kwargs)


def failed_job(tproject, fake_ml, error: Exception) -> TrainingJob:
    fake_ml.error = error
    job = new_job(tproject)
    assert run_training_job(job.id, worker="w") == JobStatus.FAILED
    job.refresh_from_db()
    return job


def assert_no_server_path(text: str, settings) -> None:
    for root in (settings.MEDIA_ROOT, settings.DATA_DIR, settings.BASE_DIR, "/tmp", "/etc"):
        assert str(root) not in text, text


def test_a_missing_mask_file_names_the_image_and_no_server_path(tproject, fake_ml, sent, settings):
    import errno

    image = tproject.images.get(has_mask=True)
    stored_name = image.mask.file.name
    job = failed_job(
        tproject,
        fake_ml,
        FileNotFoundError(errno.ENOENT, "No such file or directory", default_storage.path(stored_name)),
    )

    assert job.error == (
        f"The mask of image {image.id} ({image.filename}) is missing from storage. "
        "Paint it again or delete the mask, then train again."
    )
    assert job.error_detail == f"FileNotFoundError: [Errno 2] No such file or directory: '{stored_name}'"
    assert_no_server_path(job.error + job.error_detail, settings)


def test_a_missing_image_file_names_the_image(tproject, fake_ml, sent):
    image = tproject.images.order_by("id").first()
    job = failed_job(tproject, fake_ml, FileNotFoundError(2, "No such file or directory", image.file.path))
    assert job.error.startswith(f"The file of image {image.id} ({image.filename}) is missing from storage.")


@pytest.mark.parametrize(
    ("error", "sentence"),
    [
        (RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"), "The worker ran out of memory."),
        (MemoryError(), "The worker ran out of memory."),
        (OSError("image file is truncated (3 bytes not processed)"), "An image of the training set could not be read"),
        (ValueError("something odd in /opt/app/thing.py"), "The training stopped because of an unexpected error."),
    ],
)
def test_common_failures_get_a_sentence_and_others_a_generic_one(tproject, fake_ml, sent, settings, error, sentence):
    job = failed_job(tproject, fake_ml, error)
    assert job.error.startswith(sentence)
    assert job.error_detail.startswith(type(error).__name__)
    assert "/opt/app" not in job.error_detail


def test_an_unreadable_image_gets_the_bad_image_sentence_and_a_scrubbed_detail(tproject, fake_ml, sent, settings):
    from PIL import UnidentifiedImageError

    image = tproject.images.order_by("id").first()
    scratch_copy = f"{settings.DATA_DIR}/tmp/job-9-abc/{'0' * 32}-part.png"
    error = UnidentifiedImageError(f"cannot identify image file '{image.file.path}' (copy {scratch_copy})")

    job = failed_job(tproject, fake_ml, error)

    assert job.error.startswith("An image of the training set could not be read")
    assert job.error_detail == f"UnidentifiedImageError: cannot identify image file '{image.file.name}' (copy part.png)"
    assert_no_server_path(job.error_detail, settings)


def test_a_worker_that_is_stopped_by_celery_gets_a_sentence(tproject, fake_ml, sent):
    from celery.exceptions import SoftTimeLimitExceeded

    job = failed_job(tproject, fake_ml, SoftTimeLimitExceeded())
    assert job.error.startswith("The worker stopped during the training")


def test_when_describing_the_failure_fails_the_job_still_ends_failed_with_the_generic_sentence(
    tproject, fake_ml, sent, monkeypatch
):
    from webapp.training import failures

    def broken(exc, *, project_id=None):
        raise RuntimeError("database gone")

    monkeypatch.setattr(failures, "sentence", broken)
    job = failed_job(tproject, fake_ml, FileNotFoundError(2, "No such file or directory", "/srv/x.png"))
    assert job.error == failures.GENERIC and job.error_detail.startswith("FileNotFoundError")
    assert "/srv" not in job.error_detail


def test_server_paths_are_scrubbed_from_any_text(settings):
    from webapp.training.failures import scrub_paths

    text = (
        f"{settings.MEDIA_ROOT}/masks/ab/x.png {settings.BASE_DIR}/ml/train.py {settings.DATA_DIR}/db.sqlite3 "
        "/usr/lib/python3/x.py see http://host/a/b and masks/ab/y.png, ratio 1/2"
    )
    assert scrub_paths(text) == (
        "masks/ab/x.png <path>/ml/train.py <path>/db.sqlite3 <path> see http://host/a/b and masks/ab/y.png, ratio 1/2"
    )
