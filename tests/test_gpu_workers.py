"""scripts/gpu_workers.sh: one Celery worker per GPU, each pinned with CUDA_VISIBLE_DEVICES and named after it."""

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "gpu_workers.sh"


def fake_celery(tmp_path: Path, exit_after: str = "") -> Path:
    """A stand-in `celery` that records its device, name and queues, then lives until killed (or exits)."""
    stub = tmp_path / "celery"
    stub.write_text(
        "#!/usr/bin/env bash\n"
        f'echo "$CUDA_VISIBLE_DEVICES $ML_DEVICE $*" >> {tmp_path}/calls\n'
        f'if [ "$CUDA_VISIBLE_DEVICES" = "{exit_after}" ]; then sleep 0.5; exit 3; fi\n'
        "exec sleep 30\n"
    )
    stub.chmod(0o755)
    return stub


def run(tmp_path: Path, **env) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(SCRIPT)],
        env={"PATH": f"{tmp_path}:/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_it_starts_one_worker_per_gpu_and_stops_them_all_when_one_ends(tmp_path):
    stub = fake_celery(tmp_path, exit_after="2")

    result = run(tmp_path, GPU_DEVICES="0,2,5", CELERY=str(stub))

    # the worker on GPU 2 ended with status 3: the launcher ends with it (so Docker restarts the set)
    assert result.returncode == 3, result.stderr
    calls = sorted((tmp_path / "calls").read_text().splitlines())
    assert [c.split()[:2] for c in calls] == [["0", "cuda"], ["2", "cuda"], ["5", "cuda"]]
    for call, device in zip(calls, ("0", "2", "5"), strict=True):
        assert f"-n gpu{device}@%h" in call and "-Q train,infer" in call and "--concurrency 2" in call


def test_without_a_gpu_it_refuses_to_start(tmp_path):
    fake_celery(tmp_path)
    (tmp_path / "nvidia-smi").write_text("#!/usr/bin/env bash\nexit 0\n")
    os.chmod(tmp_path / "nvidia-smi", 0o755)

    result = run(tmp_path, CELERY=str(tmp_path / "celery"))

    assert result.returncode == 1 and "no GPU found" in result.stderr
    assert not (tmp_path / "calls").exists()


def test_it_asks_nvidia_smi_which_gpus_there_are(tmp_path):
    stub = fake_celery(tmp_path, exit_after="1")
    (tmp_path / "nvidia-smi").write_text("#!/usr/bin/env bash\nprintf '0\\n1\\n'\n")
    os.chmod(tmp_path / "nvidia-smi", 0o755)

    result = run(tmp_path, CELERY=str(stub))

    assert result.returncode == 3
    assert sorted(line.split()[0] for line in (tmp_path / "calls").read_text().splitlines()) == ["0", "1"]
