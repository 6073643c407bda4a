"""Two people activate two versions of one project at the same moment: exactly one version ends active (the one
that committed last), never none (predict would then answer 409 "no model") and never a 500.

Against the live server, from two threads, as in test_label_mask_race.py. The suite's PostgreSQL pass is where
the race shows: without the transaction, several rounds in twelve end with no active version there."""

import threading
from unittest import mock

import pytest
from rest_framework.authtoken.models import Token

from webapp.training.models import ModelVersion

from .conftest import live_call
from .factories import ModelVersionFactory, ProjectFactory

pytestmark = pytest.mark.django_db(transaction=True)

ROUNDS = 12


def test_two_activations_at_once_leave_exactly_one_active_version(live_server, user):
    project = ProjectFactory(owner=user, auto_retrain=False)
    token = Token.objects.create(user=user).key
    one = ModelVersionFactory(project=project, version=1, is_active=True)
    two = ModelVersionFactory(project=project, version=2, is_active=False)
    statuses = []

    with mock.patch("webapp.training.services.dispatch_scoring"):  # no broker needed to activate
        for _ in range(ROUNDS):
            barrier = threading.Barrier(2)

            def activate(version, barrier=barrier):
                barrier.wait()
                statuses.append(live_call(f"{live_server.url}/api/v1/models/{version.pk}/activate/", token, "POST"))

            threads = [threading.Thread(target=activate, args=(v,)) for v in (one, two)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=60)
            active = list(ModelVersion.objects.filter(project=project, is_active=True).values_list("id", flat=True))
            assert len(active) == 1, (active, statuses)

    assert statuses == [200] * 2 * ROUNDS
