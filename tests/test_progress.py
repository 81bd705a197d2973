import io

import pytest

from cellplateau._progress import Progress, progress, resolve_mode, track


class FakeClock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_plain_mode_prints_periodic_lines_with_eta_and_failures():
    out, clock = io.StringIO(), FakeClock()
    with Progress("ingest", total=100, unit="cells", interval_s=10, mode="plain", stream=out, clock=clock) as bar:
        clock.t = 5
        bar.advance(10)                      # within the interval: no line
        clock.t = 10
        bar.advance(10, note="file 1/2")     # 20 of 100 in 10 s -> 40 s left
        clock.t = 12
        bar.fail()
        clock.t = 25
        bar.advance(30)
    lines = out.getvalue().splitlines()
    assert lines[0] == "ingest: 0/100 cells (0%), 0 s elapsed, ETA ?"
    assert lines[1] == "ingest: 20/100 cells (20%), 10 s elapsed, ETA 40 s, file 1/2"
    assert lines[2] == "ingest: 50/100 cells (50%), 1 failed, 25 s elapsed, ETA 25 s, file 1/2"
    assert lines[3] == "ingest: 50/100 cells (50%), 1 failed, 25 s elapsed, done, file 1/2"
    assert len(lines) == 4


def test_unknown_total_and_track_counts_items():
    out = io.StringIO()
    seen = list(track(iter(range(3)), "read", unit="chunks", mode="plain", interval_s=0, stream=out))
    assert seen == [0, 1, 2]
    assert out.getvalue().splitlines()[-1].startswith("read: 3 chunks, ")
    assert list(track([1, 2], "x", mode="plain", stream=out))  # total from len()
    assert "2/2 items (100%)" in out.getvalue().splitlines()[-1]


def test_off_and_disabled_are_silent_but_count():
    out = io.StringIO()
    with progress("x", total=2, mode="plain", stream=out, enabled=False) as bar:
        bar.advance(2)
    assert out.getvalue() == "" and bar.done == 2


def test_rich_mode_draws_a_bar(tmp_path):
    out = io.StringIO()
    with progress("train", total=4, unit="units", mode="rich", stream=out) as bar:
        bar.advance(4, note="last")
    assert "train" in out.getvalue() and "4/4" in out.getvalue()


def test_mode_from_environment_and_terminal(monkeypatch):
    monkeypatch.delenv("CELLPLATEAU_PROGRESS", raising=False)
    assert resolve_mode(stream=io.StringIO()) == "plain"
    monkeypatch.setenv("CELLPLATEAU_PROGRESS", "off")
    assert resolve_mode(stream=io.StringIO()) == "off"
    monkeypatch.setenv("CELLPLATEAU_PROGRESS", "loud")
    with pytest.raises(ValueError, match="CELLPLATEAU_PROGRESS"):
        resolve_mode()
