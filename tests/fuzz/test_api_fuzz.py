"""Fuzz the whole API from its own OpenAPI schema against the live server (schemathesis + hypothesis).

Every operation of `/api/v1/schema/` gets generated requests as the project's owner, a viewer and an
outsider, half of them aimed at real rows (the owner's project, image, model version, job, batch, import)
rather than random ids. Nothing may answer 500, a response must match the schema (status documented, body
valid), a viewer's write must never succeed, and an outsider must never reach the owner's rows.

Bounded by FUZZ_EXAMPLES (examples per operation and role, default 4: about a minute on two cores); the
longer run is documented in docs/api.md ("Fuzzing").
"""

import io
import os
from dataclasses import dataclass, field

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from PIL import Image as PILImage
from schemathesis import checks
from schemathesis.core.failures import FailureGroup

pytestmark = [pytest.mark.fuzz, pytest.mark.django_db(transaction=True)]

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "4"))
SEED = int(os.environ.get("FUZZ_SEED", "20261001"))
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
CHECKS = [checks.not_a_server_error, checks.status_code_conformance, checks.response_schema_conformance]
# Operations any signed-in user may write to for themselves (their own projects, tokens).
OWN_WRITES = {("POST", "/api/v1/projects/"), ("POST", "/api/v1/auth/token/")}


def png(width=24, height=16, value=90) -> bytes:
    out = io.BytesIO()
    PILImage.new("RGB", (width, height), (value, value, value)).save(out, format="PNG")
    return out.getvalue()


@dataclass
class World:
    """The owner's rows the fuzzer aims at; recreated when a fuzzed DELETE removed them."""

    owner: object
    viewer: object
    rows: dict = field(default_factory=dict)

    def ensure(self) -> dict:
        from tests.webapp.factories import ModelVersionFactory, TrainingJobFactory
        from webapp.datasets.models import Image, Membership, Project, Role
        from webapp.datasets.services import image_create, project_create
        from webapp.training.models import InferenceBatch, ModelVersion

        project = Project.objects.filter(pk=self.rows.get("project")).first()
        if project is None:
            project = project_create(owner=self.owner, name="Fuzzed")
            Membership.objects.create(project=project, user=self.viewer, role=Role.VIEWER)
            self.rows = {"project": project.pk}
        if not Image.objects.filter(pk=self.rows.get("image")).exists():
            value = len(self.rows) * 7 % 250
            self.rows["image"] = image_create(project=project, filename="f.png", data=png(value=value))[0].pk
        if not ModelVersion.objects.filter(pk=self.rows.get("model")).exists():
            self.rows["model"] = ModelVersionFactory(project=project).pk
        self.rows.setdefault("job", TrainingJobFactory(project=project, status="succeeded").pk)
        if not InferenceBatch.objects.filter(pk=self.rows.get("batch")).exists():
            self.rows["batch"] = InferenceBatch.objects.create(
                project=project, model_version_id=self.rows["model"], total=0
            ).pk
        self.rows["user"] = self.viewer.pk
        return self.rows


# Which row a path parameter names, by the path it appears in.
def real_id(path: str, name: str, rows: dict) -> int | None:
    by_name = {
        "project_id": "project",
        "model_id": "model",
        "other_id": "model",
        "job_id": "job",
        "batch_id": "batch",
        "image_id": "image",
        "user_id": "user",
    }
    if name in by_name:
        return rows.get(by_name[name])
    if name == "pk":
        for prefix, key in (("/api/v1/projects/", "project"), ("/api/v1/images/", "image")):
            if path.startswith(prefix):
                return rows.get(key)
    return None


def token_for(base: str, username: str, password: str) -> str:
    response = requests.post(f"{base}/api/v1/auth/token/", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return response.json()["token"]


def test_the_api_survives_fuzzing_as_owner_viewer_and_outsider(live_server, django_user_model):
    owner = django_user_model.objects.create_user(username="fuzz-owner", password="fuzz-password-1")
    viewer = django_user_model.objects.create_user(username="fuzz-viewer", password="fuzz-password-2")
    django_user_model.objects.create_user(username="fuzz-outsider", password="fuzz-password-3")
    world = World(owner, viewer)
    world.ensure()
    base = live_server.url
    passwords = {role: f"fuzz-password-{n}" for n, role in enumerate(("owner", "viewer", "outsider"), start=1)}
    tokens = {role: token_for(base, f"fuzz-{role}", password) for role, password in passwords.items()}
    raw = requests.get(f"{base}/api/v1/schema/?format=json", headers={"Accept": "application/json"})
    assert raw.status_code == 200, raw.text
    schema = schemathesis.openapi.from_dict(raw.json())
    session = requests.Session()
    problems: list[str] = []

    def examine(case, role: str, aim: bool) -> None:
        rows = world.ensure()
        template = case.operation.path
        aimed = False
        if aim and case.path_parameters:
            for name in list(case.path_parameters):
                value = real_id(template, name, rows)
                if value is not None:
                    case.path_parameters[name] = value
                    aimed = True
        # Our credential, not a generated one (the schema's security schemes make schemathesis invent some).
        case.headers = {k: v for k, v in (case.headers or {}).items() if k.lower() not in ("authorization", "cookie")}
        if not template.startswith("/api/v1/auth/token/"):
            case.headers["Authorization"] = f"Token {tokens[role]}"
        response = case.call(base_url=base, session=session)
        if template.startswith("/api/v1/auth/"):
            tokens[role] = token_for(base, f"fuzz-{role}", passwords[role])  # it may have revoked the token
        where = f"{case.method} {case.formatted_path} as {role}"
        try:
            case.validate_response(response, checks=CHECKS)
        except FailureGroup as group:
            for failure in group.exceptions:
                problems.append(
                    f"{where} -> {response.status_code}: {failure.title}: {failure.message[:300]}"
                    + (f" {case.headers} {case.query} {response.text[:200]}" if os.environ.get("FUZZ_DEBUG") else "")
                )
        except AssertionError as exc:
            problems.append(f"{where} -> {response.status_code}: {str(exc)[:300]}")
        ok = 200 <= response.status_code < 300
        own = (case.method, template) in OWN_WRITES
        if role == "viewer" and case.method in WRITES and ok and not own and aimed:
            leaving = case.method == "DELETE" and template.endswith("/members/{user_id}/")  # a viewer may leave
            if not leaving:
                problems.append(f"{where} -> {response.status_code}: a viewer's write succeeded")
        if role == "outsider" and aimed and ok and not own:
            problems.append(f"{where} -> {response.status_code}: an outsider reached the owner's rows")

    def runner(operation, role: str):
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
            print_blob=False,
        )
        @given(case=operation.as_strategy(), aim=st.booleans())
        def run(case, aim):
            examine(case, role, aim)

        run._hypothesis_internal_use_seed = SEED
        return run

    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 30
    for operation in operations:
        for role in ("owner", "viewer", "outsider"):
            if role == "viewer" and operation.method.upper() not in WRITES:
                continue  # a viewer reads what an owner reads; its writes are what matters
            runner(operation, role)()

    assert not problems, f"{len(problems)} problems:\n" + "\n".join(sorted(set(problems))[:80])
