"""An upload refused before its body is read (404, 401) leaves the keep-alive connection usable: the client's
next request on it is answered. gunicorn (threads, as run.sh and docker run it) drains only 64 KB of an unread
body and then drops the connection without saying so; the studio drains small bodies itself
(webapp.core.middleware.DrainUnreadBodyMiddleware)."""

import http.client
import uuid
from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.integration


def multipart(size: int) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="a.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + b"\x89PNG"
        + b"x" * size
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


@pytest.mark.parametrize(
    ("token", "path", "refused"),
    [(True, "/api/v1/projects/999999/predict/", 404), (False, "/api/v1/projects/1/images/", 401)],
)
def test_a_refused_upload_leaves_the_connection_usable_for_the_next_request(stack, token, path, refused):
    url = urlsplit(stack.api.base)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    body, content_type = multipart(400_000)  # far more than the 64 KB gunicorn drains by itself
    headers = {"Content-Type": content_type, **({"Authorization": f"Token {stack.api.token}"} if token else {})}
    try:
        connection.request("POST", path, body=body, headers=headers)
        first = connection.getresponse()
        first.read()
        connection.request("GET", "/api/v1/health/")
        second = connection.getresponse()
        second.read()
    finally:
        connection.close()

    assert first.status == refused
    assert second.status == 200


def test_a_client_polling_every_few_seconds_keeps_its_connection(stack):
    """Pages and clients poll every 2-5 s: gunicorn's default keep-alive (2 s) closed the connection just as the
    next poll was sent on it ("Remote end closed connection without response"); run.sh and docker give 15 s."""
    import time

    url = urlsplit(stack.api.base)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    try:
        statuses = []
        for _ in range(2):
            connection.request("GET", "/api/v1/health/")
            response = connection.getresponse()
            response.read()
            statuses.append(response.status)
            time.sleep(3)
        socket_before = connection.sock
        connection.request("GET", "/api/v1/health/")
        last = connection.getresponse()
        last.read()
    finally:
        connection.close()

    assert statuses == [200, 200] and last.status == 200
    assert socket_before is not None  # the same connection served every poll
