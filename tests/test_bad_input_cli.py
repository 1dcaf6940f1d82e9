"""Bad input found by trying the release as a new user: each gives one line and an exit code, never a traceback."""
from __future__ import annotations

import errno
import json

import pytest

from jobs.cli import main
from tests.test_daily_pipeline import broken  # noqa: F401  (fixture: a tiny dataset)


def _err(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    return err


def test_a_corrupt_registry_file_is_named_and_the_day_falls_back(broken, tmp_path, capsys):  # noqa: F811
    reg = tmp_path / "reg"
    alias = reg / "models" / "podcasts" / "aliases" / "production.json"
    alias.parent.mkdir(parents=True)
    alias.write_text("{bad")
    (reg / "models" / "shortcuts").mkdir(parents=True)
    (reg / "models" / "shortcuts" / "best_baseline.json").write_text('{"baseline": "baseline_rec')   # truncated
    out = tmp_path / "out"
    assert main(["daily", "--date", "2025-01-01", "--input", str(broken), "--output", str(out),
                 "--models", str(reg)]) == 0
    shelves = json.loads((out / "_manifests" / "dt=2025-01-01" / "manifest.json").read_text())["shelves"]
    assert shelves["podcasts"]["fallback"] and "unreadable" in shelves["podcasts"]["fallback_reason"]
    assert shelves["shortcuts"]["ranking"] == "heuristic"   # the truncated record is skipped, with a warning
    _err(capsys)
    assert main(["models", "show", "--shelf", "podcasts", "--models", str(reg)]) == 2
    assert f"{alias}: not valid JSON" in _err(capsys)


def test_corrupt_examples_and_a_file_as_registry_stop_before_any_work(tmp_path, capsys):
    bad = tmp_path / "ex" / "shelf=shortcuts"
    bad.mkdir(parents=True)
    (bad / "part-0.parquet").write_text("garbage")
    assert main(["train", "--shelf", "shortcuts", "--examples", str(tmp_path / "ex"), "--output",
                 str(tmp_path / "m")]) == 2
    assert "part-0.parquet: cannot be read as Parquet" in _err(capsys)
    (tmp_path / "afile").write_text("x")
    assert main(["retrain", "--shelf", "shortcuts", "--as-of", "2025-01-08", "--input", str(tmp_path),
                 "--models", str(tmp_path / "afile")]) == 2
    assert "afile: is a file; a model registry is a folder" in _err(capsys)


def test_one_table_in_two_formats_is_refused(broken, tmp_path, capsys):  # noqa: F811
    (broken / "events.parquet").write_bytes(b"PAR1")
    assert main(["daily", "--date", "2025-01-01", "--input", str(broken), "--output", str(tmp_path / "o")]) == 2
    assert "table 'events' is given twice, as" in _err(capsys)


@pytest.mark.parametrize("raised, code, message", [
    (KeyboardInterrupt(), 130, "interrupted; nothing was published"),
    (RuntimeError("KeyboardInterrupt [while running 'SpillEvents']"), 130, "interrupted"),
    (RuntimeError("OSError: [Errno 28] No space left on device [while running 'SpillEvents']"), 1,
     "no space left on device"),
    (OSError(errno.ENOSPC, "No space left on device"), 1, "no space left on device"),
])
def test_ctrl_c_and_a_full_disk_end_in_one_line(monkeypatch, capsys, raised, code, message):
    import jobs.config_cli

    def fails(*_args, **_kwargs):
        raise raised
    monkeypatch.setattr(jobs.config_cli, "load_config", fails)   # raised inside the command, as Beam would
    assert main(["config", "show"]) == code
    assert message in _err(capsys)
