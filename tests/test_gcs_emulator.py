"""``gs://`` end to end against a real GCS server: ``gcp-storage-emulator`` on 127.0.0.1 (issue 12, point 4).

The emulator is a required test dependency (the ``test`` extra of setup.py): when it cannot start, the
tests fail saying so; they are never skipped.
"""
from __future__ import annotations

import datetime as dt
import io
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jobs.cli import main
from models.lifecycle.registry import Registry
from tests.test_ranker import planted_examples
from transforms.io import storage

ROOT = Path(__file__).resolve().parents[1]
BUCKET = "home-recs-test"
DATE = "2026-11-28"
STARTUP_S = 20


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until_serving(proc: subprocess.Popen, url: str) -> None:
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"gcp-storage-emulator exited with code {proc.returncode} before serving: "
                        f"{proc.stderr.read().decode(errors='replace')[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/storage/v1/b", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"gcp-storage-emulator did not answer at {url} within {STARTUP_S} s")


@pytest.fixture(scope="module")
def emulator():
    """``http://127.0.0.1:PORT`` of a fresh in-memory emulator holding the bucket :data:`BUCKET`;
    ``STORAGE_EMULATOR_HOST`` points at it (and Beam connects anonymously) until the module ends,
    when the server is stopped, also after a failure."""
    try:
        import gcp_storage_emulator  # noqa: F401
    except ImportError:
        pytest.fail("gcp-storage-emulator is not installed; it is a required test dependency: "
                    "pip install -e '.[test]'")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([sys.executable, "-m", "gcp_storage_emulator", "start", "--host", "127.0.0.1",
                             "--port", str(port), "--in-memory", "--quiet"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    from apache_beam.internal.gcp import auth

    creds = auth._Credentials  # noqa: SLF001 - restored below: other tests run in this process
    saved = (creds._credentials, creds._credentials_init)
    try:
        _wait_until_serving(proc, url)
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("STORAGE_EMULATOR_HOST", url)
            # transforms.io.storage settles Beam's credentials when imported; this process imported it
            # before the variable was set
            assert storage.use_emulator_credentials() is True
            from google.cloud import storage as gcs

            gcs.Client(project="home-recs-test").create_bucket(BUCKET)
            yield url
    finally:
        creds._credentials, creds._credentials_init = saved
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stderr.close()


def _gs(*parts: str) -> str:
    return "/".join([f"gs://{BUCKET}", *parts])


def _parquet(path: str) -> pa.Table:
    with storage.open_raw(path) as f:
        return pq.read_table(f)


def test_generate_train_daily_twice_models_and_drift_on_gs_paths(emulator, caplog, capsys):
    data, out, reg, examples = _gs("data"), _gs("out"), _gs("reg"), _gs("examples")
    caplog.set_level("WARNING")

    assert main(["generate", "--listeners", "60", "--days", "7", "--seed", "7", "--end", DATE,
                 "--output", data]) == 0
    generated = storage.read_json(storage.join(data, "_dataset.json"))["tables"]
    assert generated["listeners"] == 60 and generated["events"] > 0
    assert storage.list_files(data) == sorted(storage.join(data, f) for f in (
        "_dataset.json", "curation.parquet", "events.parquet", "items.parquet", "listeners.parquet"))

    # a small model in a gs:// registry: train on planted examples, register, promote, list
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(planted_examples(n_listeners=20), preserve_index=False), buf)
    storage.write_bytes(storage.join(examples, "shelf=shortcuts", "part-0.parquet"), buf.getvalue())
    assert main(["train", "--shelf", "shortcuts", "--examples", examples, "--output", _gs("m1")]) == 0
    version = Registry(reg).register("shortcuts", _gs("m1"))
    assert main(["models", "promote", "--shelf", "shortcuts", "--version", version, "--models", reg]) == 0
    capsys.readouterr()
    assert main(["models", "list", "--models", reg]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed[0] == f"shortcuts: production={version} previous=None challenger=None"
    assert listed[1].split()[:3] == [version, "trained", "2025-01-01..2025-01-02"]

    # the same date twice; the first run's day also holds a shelf folder the second run does not
    # write (as if an earlier config had it): the swap must leave none of it
    day = storage.join(out, "recommendations", f"dt={DATE}")
    assert main(["daily", "--date", DATE, "--input", data, "--output", out, "--run-id", "first"]) == 0
    first = storage.list_files(day)
    storage.write_bytes(storage.join(day, "shelf=retired", "part-0.parquet"), storage.read_bytes(first[0]))
    assert main(["daily", "--date", DATE, "--input", data, "--output", out, "--run-id", "second",
                 "--models", reg]) == 0

    assert storage.list_files(storage.join(out, "_manifests")) == [
        storage.join(out, "_manifests", f"dt={DATE}", name) for name in ("_SUCCESS", "manifest.json")]
    assert storage.read_bytes(storage.join(out, "_manifests", f"dt={DATE}", "_SUCCESS")) == b"second"
    assert storage.list_files(storage.join(out, "_staging")) == []
    manifest = storage.read_json(storage.join(out, "_manifests", f"dt={DATE}", "manifest.json"))
    assert manifest["run_id"] == "second"
    for table, n in generated.items():
        counts = manifest["inputs"][table]
        assert (counts["read"], counts["accepted"], counts["rejected"]) == (n, n, 0), table
        assert [f["path"] for f in counts["files"]] == [storage.join(data, f"{table}.parquet")]
    files = storage.list_files(day)
    assert files == first   # one file per shelf, and shelf=retired is gone
    for shelf, counts in manifest["shelves"].items():
        rows = _parquet(storage.join(day, f"shelf={shelf}", "part-00000-of-00001.parquet"))
        assert rows.num_rows == counts["rows"], shelf
        assert len(set(rows.column("listener_id").to_pylist())) == counts["listeners"], shelf
        assert set(rows.column("run_id").to_pylist()) <= {"second"}, shelf
    shortcuts = manifest["shelves"]["shortcuts"]
    assert (shortcuts["ranking"], shortcuts["model_version"]) == ("model", version)
    assert manifest["shelves"]["podcasts"]["ranking"] == "heuristic"

    # drift against the day before, here a copy of the day's statistics: every distance is 0
    baseline = (dt.date.fromisoformat(DATE) - dt.timedelta(days=1)).isoformat()
    stats = storage.join(out, "feature_stats", f"dt={DATE}")
    for path in storage.list_files(stats):
        storage.write_bytes(path.replace(f"dt={DATE}", f"dt={baseline}"), storage.read_bytes(path))
    assert main(["drift", "--date", DATE, "--output", out, "--models", reg]) == 0
    anomalies = storage.read_json(storage.join(out, "drift", f"dt={DATE}", "anomalies.json"))
    assert anomalies["baseline_date"] == baseline
    assert anomalies["sources"]["baseline"] == storage.join(out, "feature_stats", f"dt={baseline}")
    assert anomalies["n_alerts"] == 0 and anomalies["n_records"] == len(anomalies["records"])
    drift = [r for r in anomalies["records"] if r["comparison"] == "drift" and r["status"] == "compared"]
    assert drift and {r["value"] for r in drift} == {0.0}
    skew = [r for r in anomalies["records"] if r["comparison"] == "skew" and r["shelf"] == "shortcuts"]
    # the model was trained on examples without feature statistics: nothing to compare with, said so
    assert skew and {(r["status"], r["reason"]) for r in skew} == {("not_compared", "no_training_stats")}
    assert {r["n_q"] for r in skew if r["feature"] == "plays_7d"} == {shortcuts["candidate_rows"]}
    assert storage.exists(storage.join(out, "drift", f"dt={DATE}", "report.html"))

    waits = [r.getMessage() for r in caplog.records if "credentials" in r.getMessage() or "Retry" in r.getMessage()]
    assert waits == []


def test_a_command_on_gs_paths_waits_on_no_credential_lookup(emulator):
    """A fresh process with STORAGE_EMULATOR_HOST set: Beam's GCS filesystem connects anonymously at
    once (before the fix it retried Application Default Credentials 4 times, ~25 s, 4 tracebacks)."""
    env = {**os.environ, "STORAGE_EMULATOR_HOST": emulator, "PYTHONPATH": str(ROOT)}
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "jobs.cli", "models", "list", "--models", _gs("empty-registry")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    elapsed = time.monotonic() - started
    assert (done.returncode, done.stdout) == (0, f"no models under {_gs('empty-registry')}\n"), done.stderr
    assert "Traceback" not in done.stderr and "credentials" not in done.stderr, done.stderr
    # the log check above is what catches Beam's retries; this catches any other wait (a metadata
    # server probe, a socket timeout) with room for a loaded machine (about 2 s when idle)
    assert elapsed < 20, f"{elapsed:.1f} s: waiting on something (before the fix: 22-26 s)"


def test_an_output_in_a_missing_bucket_stops_the_job_before_reading(emulator, capsys):
    assert main(["daily", "--date", DATE, "--input", _gs("no-input-here"), "--output", "gs://no-such-bucket/out"]) == 2
    assert capsys.readouterr().err == ("home-recs daily: error: --output gs://no-such-bucket/out: cannot write "
                                       "there (HTTP 404: no such bucket)\n")
