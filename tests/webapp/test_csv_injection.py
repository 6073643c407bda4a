"""Inference results as CSV never carry a spreadsheet formula (OWASP CSV injection)."""
# ruff: noqa: F811 - pytest fixtures imported from test_training_support are parameters here

import csv
import io

import pytest

from webapp.core.csvsafe import csv_cell
from webapp.training.models import InferenceItem

from .factories import ModelVersionFactory, ProjectFactory
from .test_inference_api import create_batch, run_all_chunks, upload
from .test_training_support import fake_ml, owner, owner_client, png, sent  # noqa: F401

pytestmark = pytest.mark.django_db

HOSTILE = ["=cmd|'/C calc'!A0.png", "+1+cmd.png", "@SUM(1+1)*cmd.png", "-2+3.png"]


def test_file_names_that_look_like_formulas_are_quoted_in_the_csv(owner, owner_client, fake_ml, sent):
    # given a batch of files named like formulas, and one plain name
    project = ProjectFactory(owner=owner)
    ModelVersionFactory(project=project, is_active=True, threshold=0.5)
    names = [*HOSTILE, "plain.png"]
    files = [upload(f"f{i}.png", png(4, 4, 20 * i)) for i in range(len(names))]
    batch_id = create_batch(owner_client, project, files=files).json()["id"]
    run_all_chunks(batch_id, sent)
    # (a multipart upload keeps only a name's last path part; the names keep their "/")
    for item, name in zip(InferenceItem.objects.filter(batch_id=batch_id).order_by("id"), names, strict=True):
        InferenceItem.objects.filter(pk=item.pk).update(filename=name)

    # when
    response = owner_client.get(f"/api/v1/inference-batches/{batch_id}/results/?format=csv")

    # then every formula-like name starts with a quote, the plain one is unchanged, and scores stay numbers
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [row["filename"] for row in rows] == [*("'" + n for n in HOSTILE), "plain.png"]
    assert all(float(row["score"]) >= 0 for row in rows)


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_every_formula_start_is_neutralised(start):
    assert csv_cell(f"{start}1+1") == f"'{start}1+1"


@pytest.mark.parametrize("value", ["a=b.png", "", 0.5, -0.25, True, None])
def test_other_values_are_left_alone(value):
    assert csv_cell(value) == value
