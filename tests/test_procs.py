"""Children die with their parent: a process that starts a child through
`shotsmith.procs.popen` (ffmpeg, through post.ffmpeg.run_ffmpeg) and is then killed
with SIGKILL leaves no child running. Each test also starts the same child with a
plain subprocess.Popen and shows that one survives, so the check can fail."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from api_server import REPO

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's")

SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)"]

PARENT = """
import subprocess, sys, time
from shotsmith import procs
child = (procs.popen if sys.argv[1] == "helper" else subprocess.Popen)({cmd!r})
print(child.pid, flush=True)
time.sleep(120)
"""

FFMPEG_PARENT = """
import sys, threading, time
from shotsmith.post import ffmpeg
# an hour of frames made by ffmpeg itself at their real rate: it only ends when killed
args = ["-re", "-f", "lavfi", "-i", "nullsrc=s=16x16:r=5", "-t", "3600", "-f", "null", "-"]
if sys.argv[1] == "helper":
    threading.Thread(target=ffmpeg.run_ffmpeg, args=(args, "test"), daemon=True).start()
else:
    import subprocess
    subprocess.Popen([ffmpeg.ffmpeg_exe(), "-nostdin", "-loglevel", "error", *args])
time.sleep(120)
"""


def running(pid: int) -> bool:
    """Alive and not a zombie (a killed child whose new parent has not reaped it is gone too)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def children_of(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def ffmpeg_children(pid: int) -> list[int]:
    """The parent's children that run the test's ffmpeg command: an ffmpeg executable with the
    nullsrc input. A child seen between fork and exec still shows the parent's Python command line
    (which names nullsrc too), and one caught mid-exec shows an empty one: neither counts."""
    found = []
    for child in children_of(pid):
        try:
            argv = Path(f"/proc/{child}/cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if "ffmpeg" in Path(argv[0]).name and any("nullsrc" in arg for arg in argv[1:]):
            found.append(child)
    return found


def start_parent(code: str, how: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    return subprocess.Popen([sys.executable, "-c", code, how], stdout=subprocess.PIPE, text=True, env=env)


def wait_until(check, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def kill_parent(parent: subprocess.Popen) -> None:
    parent.send_signal(signal.SIGKILL)
    assert parent.wait(10) == -signal.SIGKILL


@pytest.mark.parametrize("how", ["helper", "plain"])
def test_a_child_dies_with_its_parent_killed_by_sigkill(how):
    parent = start_parent(PARENT.format(cmd=SLEEPER), how)
    child = int(parent.stdout.readline())
    try:
        assert running(child)
        kill_parent(parent)
        if how == "helper":
            assert wait_until(lambda: not running(child), 5), "the child outlived its parent"
        else:  # the control: without the helper the orphan keeps running
            time.sleep(1.0)
            assert running(child)
    finally:
        if running(child):
            os.kill(child, signal.SIGKILL)
        if parent.poll() is None:
            parent.kill()


@pytest.mark.parametrize("how", ["helper", "plain"])
def test_ffmpeg_dies_with_a_server_killed_by_sigkill(how):
    parent = start_parent(FFMPEG_PARENT, how)
    try:
        # Wait for the encoder itself: a child seen between fork and exec still runs Python, and
        # finding the ffmpeg binary may run a short `ffmpeg -version` first (both seen under load).
        seen: list[list[int]] = []
        assert wait_until(lambda: seen.append(ffmpeg_children(parent.pid)) or seen[-1], 20), "ffmpeg did not start"
        (encoder,) = seen[-1]
        kill_parent(parent)
        if how == "helper":
            assert wait_until(lambda: not running(encoder), 5), "ffmpeg outlived the server"
        else:
            time.sleep(1.0)
            assert running(encoder)
            os.kill(encoder, signal.SIGKILL)
    finally:
        if parent.poll() is None:
            parent.kill()


def test_kill_stops_the_child_and_its_group():
    from shotsmith import procs

    # a shell (the group leader) with a child of its own: kill() stops both
    proc = procs.popen(["/bin/sh", "-c", f"{SLEEPER[0]} -c 'import time; time.sleep(120)' & echo $!; wait"],
                       stdout=subprocess.PIPE, text=True)
    grandchild = int(proc.stdout.readline())
    assert os.getpgid(grandchild) == proc.pid != os.getpgid(0)  # its own group, not ours
    assert procs.kill(proc) == -signal.SIGKILL
    assert wait_until(lambda: not running(grandchild), 5)
    with pytest.raises(TypeError):
        procs.popen(SLEEPER, start_new_session=False)
