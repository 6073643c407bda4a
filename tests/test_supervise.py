"""scripts/supervise.sh: a process that dies is started again and takes nothing down; a stop stops it."""

import os
import signal
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "supervise.sh"


def wait_for(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def starts(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


def test_a_command_that_dies_is_started_again_with_a_message(tmp_path):
    log = tmp_path / "starts"
    # each start records itself, then dies at once (as a process killed for memory would)
    command = f"echo start >> {log}; exit 7"
    supervisor = subprocess.Popen(
        ["bash", str(SCRIPT), "worker", "bash", "-c", command],
        stderr=subprocess.PIPE,
        text=True,
        env={"PATH": "/usr/bin:/bin", "MIN_UP": "10"},
    )
    try:
        assert wait_for(lambda: starts(log) >= 3), "not restarted"
    finally:
        supervisor.send_signal(signal.SIGTERM)
        _, stderr = supervisor.communicate(timeout=20)
    assert supervisor.returncode == 0
    assert "supervise: worker ended (status 7); starting it again in 2 s" in stderr
    # it dies within MIN_UP seconds each time: the pause grows instead of a tight loop
    assert "starting it again in 4 s" in stderr


def test_a_stop_stops_the_running_command_and_the_supervisor(tmp_path):
    pid_file = tmp_path / "pid"
    supervisor = subprocess.Popen(
        ["bash", str(SCRIPT), "web", "bash", "-c", f"echo $$ > {pid_file}; exec sleep 60"],
        env={"PATH": "/usr/bin:/bin"},
    )
    assert wait_for(lambda: pid_file.exists() and pid_file.read_text().strip())
    child = int(pid_file.read_text())

    supervisor.send_signal(signal.SIGTERM)

    assert supervisor.wait(timeout=20) == 0
    assert wait_for(lambda: not _alive(child)), "the command outlived its supervisor"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is gone for our purposes
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_run_sh_supervises_every_process_and_runs_the_scheduler_on_its_own():
    script = (ROOT / "scripts" / "run.sh").read_text()
    for name in ("web", "train", "infer", "beat"):
        assert f"supervise {name} " in script
    assert " -B" not in script  # the scheduler is no longer a child a worker can lose unnoticed
    assert "wait -n" not in script  # one process ending no longer stops the others
