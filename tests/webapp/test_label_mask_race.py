"""Label and mask stay consistent under concurrent requests: a stored mask always means label defective.

`PUT /images/{id}/mask/` and `PATCH {"label": "good"}` race from two threads against the live server
(on PostgreSQL in the suite's PostgreSQL pass, where row locks really matter). Whichever wins, no row
ends labelled good with a mask, and `has_mask` always matches the Mask row.
"""

import threading

import pytest
from rest_framework.authtoken.models import Token

from webapp.datasets.models import Image, Label, Mask

from .conftest import live_call, mask_png
from .factories import ImageFactory, ProjectFactory

pytestmark = pytest.mark.django_db(transaction=True)

ROUNDS = 15


def test_racing_a_mask_against_a_good_label_never_leaves_a_good_image_with_a_mask(live_server, user):
    # given a project with images, and a token
    project = ProjectFactory(owner=user, auto_retrain=False)
    token = Token.objects.create(user=user).key
    # (defective already: the stale label a request read before the other one committed is the hazard)
    images = [ImageFactory(project=project, width=8, height=6, label=Label.DEFECTIVE) for _ in range(ROUNDS)]
    statuses = []

    # when, for every image, a mask and a "good" label are sent at the same moment
    for image in images:
        barrier = threading.Barrier(2)
        base = f"{live_server.url}/api/v1/images/{image.pk}/"

        def put_mask(image=image, barrier=barrier, base=base):
            barrier.wait()
            statuses.append(live_call(f"{base}mask/", token, "PUT", mask_png(image.width, image.height), "image/png"))

        def label_good(barrier=barrier, base=base):
            barrier.wait()
            statuses.append(live_call(base, token, "PATCH", b'{"label": "good"}', "application/json"))

        threads = [threading.Thread(target=put_mask), threading.Thread(target=label_good)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)

    # then every request succeeded, and every row is consistent
    assert statuses.count(200) == 2 * ROUNDS, statuses
    for image in Image.objects.filter(pk__in=[i.pk for i in images]):
        has_row = Mask.objects.filter(image=image).exists()
        assert image.has_mask == has_row, image.pk
        if image.has_mask:
            assert image.label == Label.DEFECTIVE, image.pk
        else:
            assert image.label == Label.GOOD, image.pk
