"""What a command or imported family's fit.json may report: compute record, convergence, the validation
curve and the probe, each checked; malformed values are one-line errors naming the file and the key."""

import json

import pytest

from cellplateau.models.base import FitInfo
from cellplateau.models.command import CommandError, _read_fit_json

FLAT_LOSS = [[0, 0, 5.0], [10, 640, 2.0], [20, 1280, 1.999], [30, 1920, 1.998], [40, 2560, 1.9985]]
FLAT_PROBE = [[0, 0, 0.4], [10, 640, 0.7], [20, 1280, 0.7004], [30, 1920, 0.7001], [40, 2560, 0.7002]]
RISING_PROBE = [[0, 0, 0.4], [10, 640, 0.5], [20, 1280, 0.55], [30, 1920, 0.6], [40, 2560, 0.66]]


def _read(tmp_path, rec) -> FitInfo:
    (tmp_path / "fit.json").write_text(rec if isinstance(rec, str) else json.dumps(rec))
    return _read_fit_json(tmp_path, FitInfo(cells_seen=7))


@pytest.mark.parametrize(("rec", "expected"), [
    ({"val_curve": FLAT_LOSS, "probe_curve": FLAT_PROBE}, (True, True, True)),        # computed: both flat
    ({"val_curve": FLAT_LOSS, "probe_curve": RISING_PROBE}, (False, True, False)),    # the probe still rises
    ({"val_curve": FLAT_LOSS}, (True, True, None)),                                   # no probe: the loss alone
    ({"probe_curve": RISING_PROBE}, (False, None, False)),
    ({"converged": True}, (True, None, None)),                                        # reported, nothing computed
    ({"converged": False, "val_curve": FLAT_LOSS, "probe_curve": FLAT_PROBE}, (False, True, True)),  # reported wins
    ({"converged": None, "val_curve": FLAT_LOSS, "probe_curve": FLAT_PROBE}, (True, True, True)),
    ({"steps": 3}, (None, None, None)),                                               # nothing: unknown
])
def test_fit_json_convergence(tmp_path, rec, expected):
    info = _read(tmp_path, rec)
    assert (info.converged, info.loss_converged, info.probe_converged) == expected
    assert info.val_curve == rec.get("val_curve", []) and info.probe_curve == rec.get("probe_curve", [])
    if "val_curve" in rec and "probe_curve" not in rec:
        assert info.probe_skipped == "fit.json gives no probe_curve"


def test_fit_json_compute_record_and_no_file(tmp_path):
    info = _read(tmp_path, {"steps": 5, "cells_seen": 100, "flops": 1.5e9, "ignored_key": "x"})
    assert (info.steps, info.cells_seen, info.flops) == (5, 100, 1.5e9)
    assert _read_fit_json(tmp_path / "none", FitInfo(cells_seen=7)).cells_seen == 7


@pytest.mark.parametrize(("rec", "message"), [
    ("{not json", r"fit\.json: not valid JSON"),
    ("[1, 2]", r"fit\.json: must be a JSON object of fit keys, got list"),
    ({"steps": "many"}, r"fit\.json: key 'steps' must be a number, got 'many'"),
    ({"converged": "yes"}, r"fit\.json: key 'converged' must be true, false or null, got 'yes'"),
    ({"val_curve": {"0": 1.0}}, r"fit\.json: key 'val_curve' must be a list of \[step, cells_seen, loss\] rows, got "
                                r"dict"),
    ({"val_curve": [[0, 0, 1.0], [10, 640]]}, r"fit\.json: key 'val_curve' must be .*; row 1 is \[10, 640\]"),
    ({"probe_curve": [[0, 0, "0.5"]]}, r"fit\.json: key 'probe_curve' must be a list of \[step, cells_seen, probe\] "
                                       r"rows; row 0 is \[0, 0, '0\.5'\]"),
])
def test_malformed_fit_json_is_a_one_line_error_naming_file_and_key(tmp_path, rec, message):
    with pytest.raises(CommandError, match=message) as err:
        _read(tmp_path, rec)
    assert "\n" not in str(err.value) and str(tmp_path / "fit.json") in str(err.value)
