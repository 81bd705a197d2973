"""Claims and failure records: the only coordination between workers is files in the study folder.

A worker *claims* a unit before computing it by creating ``state/claims/<key>.json`` atomically
(write a private temporary, then ``os.link`` it to the claim's name: the link fails if the claim
exists, which is atomic on local filesystems and NFS alike). The claim names its owner (host, pid,
process start time, a random token); the owner touches it every ``lease_s / 4`` seconds (a heartbeat).
A claim is *stale*, and may be taken over, when its heartbeat is older than ``lease_s`` or when its
owner runs on this host and is no longer alive. A unit that raises is recorded in
``state/failed/<key>.json`` with its traceback and the number of attempts so far.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cellplateau._io import atomic_write_json


def _proc_start(pid: int) -> int | None:
    """Start time of a process (clock ticks since boot, Linux); None where /proc is unavailable."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] == "Z" else int(fields[19])   # a zombie is dead


def pid_alive(pid: int, start: int | None = None) -> bool:
    """Whether process ``pid`` (started at ``start``, if known) still runs on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    if Path("/proc").is_dir():
        now = _proc_start(pid)
        return now is not None and (start is None or now == start)
    return True


def owner() -> dict:
    """This process as a claim owner."""
    pid = os.getpid()
    return {"host": socket.gethostname(), "pid": pid, "start": _proc_start(pid), "token": secrets.token_hex(8)}


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def is_stale(info: dict, heartbeat: float, *, lease_s: float, now: float | None = None) -> bool:
    """A claim is stale when its heartbeat (mtime) is older than the lease, or its owner is dead here."""
    now = time.time() if now is None else now
    if now - heartbeat > lease_s:
        return True
    return info.get("host") == socket.gethostname() and not pid_alive(int(info["pid"]), info.get("start"))


@dataclass(frozen=True)
class Claim:
    path: Path
    info: dict


def _link_new(path: Path, info: dict) -> bool:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{info['token']}.tmp")
    atomic_write_json(tmp, info)
    try:
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    finally:
        tmp.unlink()


def try_claim(path: Path, *, lease_s: float, unit: dict | None = None) -> Claim | None:
    """Claim ``path`` for this process; take over a stale claim; None if a live owner holds it."""
    info = {**owner(), **(unit or {}), "claimed": time.time()}
    for _ in range(3):
        if _link_new(path, info):
            return Claim(path, info)
        try:
            old, heartbeat = read_json(path), path.stat().st_mtime
        except FileNotFoundError:
            continue
        if old is None or not is_stale(old, heartbeat, lease_s=lease_s):
            return None
        # take over: move the stale claim aside; if someone renewed it in between, put theirs back
        aside = path.with_name(f".{path.name}.{info['token']}.stale")
        try:
            os.rename(path, aside)
        except FileNotFoundError:
            continue
        moved = read_json(aside)
        if moved is not None and moved.get("token") != old.get("token"):
            with contextlib.suppress(FileExistsError):
                os.link(aside, path)
            aside.unlink()
            return None
        aside.unlink()
    return None


def holds(claim: Claim) -> bool:
    info = read_json(claim.path)
    return info is not None and info.get("token") == claim.info["token"]


def release(claim: Claim) -> None:
    if holds(claim):
        with contextlib.suppress(FileNotFoundError):
            claim.path.unlink()


@contextlib.contextmanager
def heartbeat(claim: Claim, *, lease_s: float) -> Iterator[None]:
    """Touch the claim every ``lease_s / 4`` seconds while the body runs; release it afterwards."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(lease_s / 4):
            if holds(claim):
                with contextlib.suppress(FileNotFoundError):
                    os.utime(claim.path)

    thread = threading.Thread(target=beat, name="cellplateau-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        release(claim)


def claim_state(path: Path, *, lease_s: float) -> str | None:
    """``running`` (a live claim), ``stale`` (its owner is gone) or None (no claim)."""
    info = read_json(path)
    if info is None:
        return None
    try:
        beat = path.stat().st_mtime
    except FileNotFoundError:
        return None
    return "stale" if is_stale(info, beat, lease_s=lease_s) else "running"


def record_failure(path: Path, *, error: str, label: str, where: str = "") -> int:
    """Add one failed attempt (with its traceback) to the unit's failure record; return the attempts."""
    old = read_json(path) or {}
    attempts = int(old.get("attempts", 0)) + 1
    atomic_write_json(path, {"attempts": attempts, "label": label, "error": error, "where": where,
                             "host": socket.gethostname(), "pid": os.getpid(),
                             "time": time.strftime("%Y-%m-%dT%H:%M:%S")})
    return attempts


def failure_attempts(path: Path) -> int:
    info = read_json(path)
    return int(info.get("attempts", 0)) if info else 0


def clear_failure(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
