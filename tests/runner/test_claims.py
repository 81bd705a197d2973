import json
import os
import subprocess
import sys
import time

from cellplateau.runner import claims


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_claim_is_exclusive_while_its_owner_lives(tmp_path):
    path = tmp_path / "claims" / "k.json"
    first = claims.try_claim(path, lease_s=60, unit={"label": "u"})
    assert first is not None and claims.holds(first)
    assert json.loads(path.read_text())["pid"] == os.getpid()
    assert claims.try_claim(path, lease_s=60) is None, "a live claim cannot be taken"
    assert claims.claim_state(path, lease_s=60) == "running"
    claims.release(first)
    assert not path.exists() and claims.claim_state(path, lease_s=60) is None
    assert not list(path.parent.glob(".*")), "no temporaries left"


def test_claim_of_a_dead_owner_on_this_host_is_taken_over(tmp_path):
    path = tmp_path / "k.json"
    stale = {**claims.owner(), "pid": _dead_pid(), "start": None}
    path.write_text(json.dumps(stale))
    assert claims.claim_state(path, lease_s=3600) == "stale"
    mine = claims.try_claim(path, lease_s=3600)
    assert mine is not None and json.loads(path.read_text())["token"] == mine.info["token"]


def test_claim_from_another_host_expires_with_its_lease(tmp_path):
    path = tmp_path / "k.json"
    path.write_text(json.dumps({"host": "elsewhere", "pid": 1, "start": None, "token": "t"}))
    assert claims.try_claim(path, lease_s=60) is None, "a fresh remote claim is respected"
    old = time.time() - 120
    os.utime(path, (old, old))                              # its heartbeat stopped two minutes ago
    assert claims.claim_state(path, lease_s=60) == "stale"
    assert claims.try_claim(path, lease_s=60) is not None


def test_a_reused_pid_does_not_keep_a_claim_alive(tmp_path):
    path = tmp_path / "k.json"
    me = claims.owner()
    path.write_text(json.dumps({**me, "start": (me["start"] or 0) + 1}))   # same pid, another process
    if me["start"] is not None:
        assert claims.claim_state(path, lease_s=3600) == "stale"


def test_heartbeat_renews_the_claim_and_releases_it(tmp_path):
    path = tmp_path / "k.json"
    claim = claims.try_claim(path, lease_s=0.4)
    old = time.time() - 10
    os.utime(path, (old, old))
    with claims.heartbeat(claim, lease_s=0.4):
        time.sleep(0.35)
        assert time.time() - path.stat().st_mtime < 0.3, "the heartbeat touched the claim"
        assert claims.try_claim(path, lease_s=0.4) is None
    assert not path.exists()


def test_takeover_does_not_steal_a_renewed_claim(tmp_path, monkeypatch):
    """Worker B judged the claim stale from an old read, but A has taken it over since: B puts it back."""
    path = tmp_path / "k.json"
    path.write_text(json.dumps({"host": "elsewhere", "pid": 1, "start": None, "token": "old"}))
    old = time.time() - 120
    os.utime(path, (old, old))
    winner = claims.try_claim(path, lease_s=60)                 # A
    assert winner is not None
    real_read = claims.read_json
    calls = {"n": 0}

    def stale_first_read(p):                                   # B's view: the old claim, judged stale
        calls["n"] += 1
        return {"host": "elsewhere", "pid": 1, "start": None, "token": "old"} if calls["n"] == 1 else real_read(p)

    monkeypatch.setattr(claims, "read_json", stale_first_read)
    monkeypatch.setattr(claims, "is_stale", lambda *a, **k: True)
    assert claims.try_claim(path, lease_s=60) is None          # B
    monkeypatch.undo()
    assert claims.holds(winner), "A still holds its claim"
    assert not list(tmp_path.glob(".*")), "B's aside copy is gone"


def test_failure_record_counts_attempts(tmp_path):
    path = tmp_path / "failed" / "k.json"
    assert claims.failure_attempts(path) == 0
    assert claims.record_failure(path, error="Traceback ...\nValueError: boom", label="u") == 1
    assert claims.record_failure(path, error="Traceback ...\nValueError: again", label="u") == 2
    rec = json.loads(path.read_text())
    assert rec["attempts"] == 2 and rec["error"].endswith("again") and rec["label"] == "u"
    claims.clear_failure(path)
    assert claims.failure_attempts(path) == 0
