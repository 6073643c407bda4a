"""The layering rules of docs/ARCHITECTURE: ml/ never imports the web application, services never import
tasks (tasks call services; services name a task through webapp.core.queue.enqueue)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def imported_modules(path: Path, package: str | None = None) -> set[str]:
    """Every module a file imports, absolute, relative ones resolved against its package."""
    if package is None:
        package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def test_ml_never_imports_the_web_application():
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            n for n in imported_modules(path) if n.split(".")[0] in {"webapp", "django"}
        )
        for path in (ROOT / "ml").rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_only_tasks_modules_import_tasks():
    offenders = {}
    for path in (ROOT / "webapp").rglob("*.py"):
        if path.name == "tasks.py" or "migrations" in path.parts:
            continue
        tasks = sorted(n for n in imported_modules(path) if n.endswith(".tasks") or ".tasks." in n)
        if tasks:
            offenders[str(path.relative_to(ROOT))] = tasks
    assert offenders == {}


def test_the_checker_resolves_relative_imports(tmp_path):
    # given a module of webapp.training that imports its sibling tasks module relatively, inside a function
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from .tasks import run_training_job_task\n    from ..core import queue\n")

    names = imported_modules(probe, package="webapp.training")

    assert {"webapp.training.tasks", "webapp.core.queue"} <= names
