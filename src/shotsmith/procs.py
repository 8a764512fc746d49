"""Child processes that die with the process that started them.

Every process shotsmith starts (today: ffmpeg, in post/ffmpeg.py) goes through
`popen`, so a server or worker killed with SIGKILL (which no cleanup code of ours
can catch) never leaves an encoder running behind it:

- on Linux the child asks the kernel, between fork and exec, to send it SIGKILL
  when its parent dies (`prctl(PR_SET_PDEATHSIG)`); if the parent died before that
  request took effect, the child kills itself at once;
- the child runs in its own session and process group (`start_new_session`), so a
  Ctrl-C meant for the server reaches the server only, which then stops the child
  on purpose (`kill`), together with anything the child started.

Elsewhere (macOS) only the second part applies: a child there outlives a parent
killed with SIGKILL.

Linux sends the parent-death signal when the *thread* that started the child ends,
not only the process: start children from a thread that waits for them (as
`post.ffmpeg.run_ffmpeg` does), never from a short-lived one.
"""

from __future__ import annotations

import ctypes
import functools
import os
import signal
import subprocess
import sys
from typing import Callable

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


@functools.lru_cache(maxsize=1)
def _prctl() -> Callable[..., int] | None:
    """libc's prctl, looked up once in the parent (never between fork and exec)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl  # the C library this process already runs on
    except (OSError, AttributeError):
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    return prctl


def _die_with_parent(parent: int, prctl: Callable[..., int]) -> Callable[[], None]:
    def in_child() -> None:  # runs in the child between fork and exec: no imports, no locks
        if prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            return  # the kernel refused (it does not on any supported Linux); the group still helps
        if os.getppid() != parent:  # the parent is already gone: do not outlive it
            os.kill(os.getpid(), signal.SIGKILL)

    return in_child


def popen(cmd: list[str], **kwargs) -> subprocess.Popen:
    """subprocess.Popen for a child that dies with this process (see the module's doc).

    Takes Popen's keyword arguments except preexec_fn and start_new_session, which
    this function sets.
    """
    if "preexec_fn" in kwargs or "start_new_session" in kwargs:
        raise TypeError("popen sets preexec_fn and start_new_session itself")
    prctl = _prctl()
    preexec = _die_with_parent(os.getpid(), prctl) if prctl is not None else None
    return subprocess.Popen(cmd, preexec_fn=preexec, start_new_session=True, **kwargs)


def kill(proc: subprocess.Popen) -> int:
    """Stop a child started by `popen` and everything in its process group; returns its exit code."""
    if proc.poll() is None:  # not reaped yet, so its group id still names our child's group
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return proc.wait()
