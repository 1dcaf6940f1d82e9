"""Scale benchmark of the daily job with models (issue 10, point 6): `python bench/daily_scale.py`.

What one run does, in order (every child command's output goes to DATA_ROOT/logs/):

1. **Datasets.** For each size N of ``--sizes`` (and for ``--train-listeners``):
   ``home-recs generate --listeners N --days DAYS --seed SEED --end DATE --output DATA_ROOT/data/listeners=N``,
   timed (wall, CPU, peak RSS, load average). A dataset whose ``_dataset.json`` provenance already matches
   is reused; its generator figures then come from the run that made it (``reused: true`` in the JSON).
2. **Models, once, on the small set.** ``home-recs build-examples --as-of DATE-7..DATE-1 --horizon 1d``,
   then ``home-recs train --shelf S`` for shortcuts, podcasts and playlists (the latest as_of validates,
   as the config's ``ranker.validation_days`` says), then each model folder is registered and promoted to
   ``production`` in DATA_ROOT/train/registry with ``models.lifecycle.registry.Registry`` (the same calls that
   ``home-recs retrain`` makes once its gate passes; the bench skips the gate because it measures speed,
   not quality). Reused when the registry's production versions are the ones the bench recorded and
   their feature spec fingerprints still match the code (``--retrain`` forces a rebuild).
3. **The daily job, at each size,** as one child process:
   ``home-recs daily --date DATE --input ... --output DATA_ROOT/out/listeners=N --models REGISTRY
   --runner RUNNER [BEAM ARGS]``. The output folder is emptied first. Measured:

   - wall time (``time.perf_counter`` around the child);
   - CPU seconds, user + sys, of the whole process tree: ``os.wait4`` on the child (its own usage plus that
     of every descendant it waited for), cross-checked with the ``resource.getrusage(RUSAGE_CHILDREN)``
     delta around the run; and the tree as sampled every ``--sample-interval`` s (psutil when installed,
     else /proc): CPU of live processes plus what they reaped, summed RSS and PSS (PSS counts shared
     pages once), process count;
   - peak RSS: of the largest single process (``ru_maxrss`` from ``wait4``) and of the sampled tree;
   - listeners = the manifest's ``listeners.served`` (OUT/_manifests/dt=DATE/manifest.json), then
     listeners per CPU-second and per wall second;
   - candidate rows scored, per model shelf: from a counter in the manifest if the job has one
     (``shelves.S.candidate_rows`` or similar), else ``n_rows`` / ``n_listeners`` of the serving feature
     statistics OUT/feature_stats/dt=DATE/S.json (computed from one row per scored candidate), else
     the rows of OUT/served_features/dt=DATE/shelf=S (``--log-features``); features per row from the
     model (``Booster.num_features()``), checked against the statistics;
   - that every model shelf was served by its model (manifest ``ranking: model``, no ``fallback``);
   - the 1-minute load average before and after, and its mean and max while the job ran.

4. **The floor, right after each daily run, in this process:** for each model shelf, the same
   ``model.json`` loaded into an ``xgboost.Booster``; random float32 matrices with the shelf's number of
   features and as many rows as the job scored on that shelf, split over as many listeners as the shelf
   had (evenly); timed: one ``Booster.inplace_predict`` per chunk of at most ``--floor-chunk-rows`` rows
   (whole listeners per chunk) plus a vectorised top-k per listener (k = the shelf's ``size`` in the
   config): ``np.lexsort((-score, listener))``, rank within listener, keep rank < k. Building the random
   matrices is not timed. Wall = ``perf_counter``, CPU = ``time.process_time`` (all threads of this
   process, so xgboost's too). The best (lowest-wall) of ``--floor-repeats`` passes is reported, and
   the ratios job / floor for wall and CPU.

5. **Results:** JSON at ``--out`` (rewritten after every step, so a crash keeps what was measured) and a
   markdown report on stdout, ready to paste into bench/README.md, with the load average next to each
   figure. Exit code 0 when every step ran and every model shelf was served by a model, 1 otherwise,
   2 for a usage or set-up error (e.g. no ``home-recs``).

The bench needs numpy and xgboost (the floor) and the repository's ``models.lifecycle.registry`` (registration).
When started with an interpreter that lacks them, it re-runs itself with the Python next to the
``home-recs`` it uses (normally .venv/bin/python; `make install` creates it).

Example (small sizes, about 10 minutes on 2 cores with the current job)::

    python bench/daily_scale.py --sizes 2000,5000 --train-listeners 1000
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import resource
import shlex
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]  # the checkout holding this script
REPO = HERE  # the code measured: --repo, default HERE (set in main)
MODEL_SHELVES = ("shortcuts", "podcasts", "playlists")
DEFAULT_SIZES = "10000,100000,1000000"
# Keys a future manifest may use for the number of scored candidate rows of a shelf (checked in order).
CANDIDATE_KEYS = ("candidate_rows", "candidates", "scored_rows", "rows_scored")


class BenchError(Exception):
    """A step that cannot run or failed; the message says which and where its log is."""


# ------------------------------------------------------------------------------------------------
# command line

def parse_sizes(text: str) -> list[int]:
    """``"10k,100000,1M"`` -> [10000, 100000, 1000000] (order kept, duplicates dropped)."""
    out = []
    for part in text.split(","):
        part = part.strip().lower().replace("_", "")
        if not part:
            continue
        mult = 1
        if part[-1] in "km":
            mult, part = (1000 if part[-1] == "k" else 1_000_000), part[:-1]
        try:
            value = int(float(part) * mult)
        except ValueError:
            raise argparse.ArgumentTypeError(f"--sizes: not a number: {part!r}") from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"--sizes: must be >= 1, got {value}")
        if value not in out:
            out.append(value)
    if not out:
        raise argparse.ArgumentTypeError("--sizes needs at least one size")
    return out


def build_parser() -> argparse.ArgumentParser:
    doc = __doc__
    p = argparse.ArgumentParser(
        prog="python bench/daily_scale.py",
        description=doc.split("\n\n")[0] + "\n\n" + doc.split("\n\n", 1)[1].rsplit("Example", 1)[0],
        epilog="Example: python bench/daily_scale.py --sizes 2000,5000 --train-listeners 1000",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=parse_sizes, default=parse_sizes(DEFAULT_SIZES), metavar="N,N,...",
                   help=f"listener counts to generate and serve (k and M suffixes allowed; default {DEFAULT_SIZES})")
    p.add_argument("--train-listeners", type=int, default=2000, metavar="N",
                   help="listeners of the dataset the three models are trained on, once (default 2000)")
    p.add_argument("--days", type=int, default=30, help="days of events per dataset (default 30)")
    p.add_argument("--seed", type=int, default=7, help="generator seed (default 7, as `make run`)")
    p.add_argument("--date", default="2026-11-28", metavar="YYYY-MM-DD",
                   help="serving date of `daily` and the generator's --end (default 2026-11-28); the models are "
                        "trained on examples at the 7 dates before it, horizon 1d")
    p.add_argument("--data-root", default="/tmp/home-recs-bench", metavar="DIR",
                   help="datasets (data/listeners=N), training set and registry (train/), daily outputs "
                        "(out/listeners=N) and logs (logs/) (default /tmp/home-recs-bench); datasets and models "
                        "found there are reused")
    p.add_argument("--out", metavar="FILE", help="results JSON (default DATA_ROOT/results.json)")
    p.add_argument("--markdown", metavar="FILE", help="also write the markdown report to FILE")
    p.add_argument("--home-recs", metavar="PATH",
                   help="the CLI to run (default: .venv/bin/home-recs of this checkout if present, else `home-recs` "
                        "on PATH)")
    p.add_argument("--repo", metavar="DIR",
                   help="source tree to measure (default: this checkout). Children run with cwd DIR and "
                        "PYTHONPATH=DIR, so its modules win over the installed ones; e.g. compare main with a "
                        "rewrite: `git archive HEAD | tar -x -C /tmp/main-head`, then --repo /tmp/main-head")
    p.add_argument("--runner", default="DirectRunner", help="Beam runner of `daily` (default DirectRunner)")
    p.add_argument("--beam-args", default="", metavar='"FLAGS"',
                   help='extra flags for `daily`, passed on to Beam, e.g. "--direct_num_workers 2 '
                        '--direct_running_mode multi_processing" (one quoted string)')
    p.add_argument("--config", metavar="FILE",
                   help="YAML config for build-examples, train and daily (deep-merged over the defaults); the "
                        "floor's top-k uses its shelf sizes too")
    p.add_argument("--log-features", action="store_true",
                   help="run daily with --log-features and count the served feature rows (also a cross-check "
                        "of the candidate counts; writing them costs the job extra time)")
    p.add_argument("--regenerate", action="store_true", help="generate datasets even when they exist")
    p.add_argument("--retrain", action="store_true", help="rebuild examples and models even when they exist")
    p.add_argument("--no-floor", action="store_true", help="skip the floor")
    p.add_argument("--floor-repeats", type=int, default=3, help="passes of the floor per size; the best is kept "
                   "(default 3)")
    p.add_argument("--floor-chunk-rows", type=int, default=2_000_000,
                   help="about this many rows (whole listeners) per inplace_predict call of the floor (bounds its memory; "
                        "default 2,000,000)")
    p.add_argument("--sample-interval", type=float, default=0.5,
                   help="seconds between process-tree samples (default 0.5)")
    p.add_argument("--keep-going", action="store_true",
                   help="after a failed daily run, go on with the next size (default: stop)")
    return p


# ------------------------------------------------------------------------------------------------
# environment: the CLI and an interpreter with numpy, xgboost and the repository's modules

def find_cli(explicit: str | None) -> list[str]:
    """The ``home-recs`` command to run, as an argv prefix. Raises BenchError with what to do."""
    if explicit:
        path = shutil.which(explicit) or explicit
        if not os.access(path, os.X_OK):
            raise BenchError(f"--home-recs {explicit}: not an executable file")
        return [path]
    venv_cli = HERE / ".venv" / "bin" / "home-recs"
    if venv_cli.exists():
        if not (HERE / ".venv" / ".installed").exists():
            raise BenchError(f"{HERE / '.venv'} exists but .venv/.installed does not: `make install` has not "
                             f"finished (or failed); run `make install` in {HERE} and try again")
        return [str(venv_cli)]
    found = shutil.which("home-recs")
    if found:
        return [found]
    raise BenchError(f"home-recs is not installed: run `make install` in {HERE} (creates .venv/bin/home-recs), "
                     f"or pass --home-recs PATH")


def cli_python(cli: list[str]) -> str | None:
    """The interpreter of a console script: the python next to it, else its shebang."""
    path = Path(cli[0])
    for name in ("python", "python3"):
        if (path.parent / name).exists():
            return str(path.parent / name)
    try:
        first = path.read_bytes()[:300].split(b"\n", 1)[0].decode()
        if first.startswith("#!") and "python" in first:
            return first[2:].strip().split()[0]
    except OSError:
        pass
    return None


def ensure_interpreter(cli: list[str]) -> None:
    """Re-exec this script under the CLI's interpreter when numpy, xgboost or PyYAML is missing here."""
    try:
        import numpy  # noqa: F401
        import xgboost  # noqa: F401
        import yaml  # noqa: F401
        return
    except ImportError as err:
        missing = err.name
    py = cli_python(cli)
    # compare unresolved paths: a venv's python is often a symlink to the very interpreter running now
    if py and os.path.abspath(py) != os.path.abspath(sys.executable) and not os.environ.get("DAILY_SCALE_REEXEC"):
        os.environ["DAILY_SCALE_REEXEC"] = "1"
        os.execv(py, [py, str(Path(__file__).resolve())] + sys.argv[1:])
    raise BenchError(f"this interpreter ({sys.executable}) lacks {missing!r} and no interpreter with it was found "
                     f"next to {cli[0]}; run the bench with {HERE / '.venv/bin/python'} after `make install`")


def check_cli(cli: list[str], logs: Path) -> str:
    """Run ``home-recs --help`` once (fails early and clearly when the install is broken)."""
    proc = subprocess.run(cli + ["--help"], capture_output=True, text=True, cwd=str(REPO), env=child_env())
    if proc.returncode != 0:
        (logs / "home-recs-help.log").write_text(proc.stdout + proc.stderr)
        raise BenchError(f"`{' '.join(cli)} --help` failed (exit {proc.returncode}):\n{tail(proc.stdout + proc.stderr)}")
    for sub in ("generate", "build-examples", "train", "daily"):
        if sub not in proc.stdout:
            raise BenchError(f"`{cli[0]}` has no `{sub}` sub-command: is it this project's home-recs?")
    return proc.stdout


def child_env() -> dict:
    """The environment of every child: PYTHONPATH starts with REPO, so the measured tree's modules are used."""
    env = dict(os.environ)
    env.pop("DAILY_SCALE_REEXEC", None)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    return env


def tail(text: str, n: int = 30) -> str:
    return "\n".join(text.rstrip().splitlines()[-n:])


def machine_info() -> dict:
    info = {"hostname": platform.node(), "cpus": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform()}
    try:
        affinity = len(os.sched_getaffinity(0))
        info["cpus_usable"] = affinity
    except (AttributeError, OSError):
        pass
    try:
        with open("/proc/meminfo") as f:
            mem = {line.split(":")[0]: int(line.split()[1]) for line in f if line.split(":")[0] in ("MemTotal",)}
        info["mem_total_gb"] = round(mem["MemTotal"] / 2**20, 1)
    except (OSError, KeyError, ValueError):
        pass
    try:
        import numpy
        import xgboost
        info["numpy"], info["xgboost"] = numpy.__version__, xgboost.__version__
    except ImportError:
        pass
    return info


def repo_info() -> dict:
    def git(*args):
        try:
            return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True,
                                  timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"path": str(REPO), "commit": git("rev-parse", "--short", "HEAD") or None,
            "modified_files": [line[3:] for line in status.splitlines()]}


# ------------------------------------------------------------------------------------------------
# measuring a child process tree

def _tree_pids_proc(root: int) -> list[int]:
    kids: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        kids.setdefault(ppid, []).append(int(name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(kids.get(pid, []))
    return out


class TreeSampler(threading.Thread):
    """Samples a process tree every ``interval`` s: summed RSS and PSS, CPU (user + sys of live processes
    plus what they reaped), process count, and the 1-minute load average. Uses psutil when it is
    importable, else /proc. ``summary()`` gives the peaks."""

    def __init__(self, pid: int, interval: float):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.stop_event = threading.Event()
        self.samples = 0
        self.peak_rss = self.peak_pss = self.peak_procs = 0
        self.peak_single_rss = 0
        self.cpu_s = 0.0
        self.loads: list[float] = []
        self.pss_available = True
        try:
            import psutil  # noqa: F401
            self.backend = "psutil"
        except ImportError:
            self.backend = "proc"
        self.ticks = os.sysconf("SC_CLK_TCK")
        self.page = os.sysconf("SC_PAGE_SIZE")

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                self._sample()
            except Exception:  # the tree changes under us; one bad sample must not end the sampling
                pass
            self.stop_event.wait(self.interval)

    def stop(self) -> None:
        self.stop_event.set()
        self.join(timeout=10)

    def _sample(self) -> None:
        rows = self._sample_psutil() if self.backend == "psutil" else self._sample_proc()
        if not rows:
            return
        self.samples += 1
        self.peak_rss = max(self.peak_rss, sum(r[0] for r in rows))
        self.peak_pss = max(self.peak_pss, sum(r[1] for r in rows))
        self.peak_single_rss = max(self.peak_single_rss, max(r[0] for r in rows))
        self.peak_procs = max(self.peak_procs, len(rows))
        self.cpu_s = max(self.cpu_s, sum(r[2] for r in rows))
        self.loads.append(os.getloadavg()[0])

    def _sample_psutil(self) -> list[tuple[int, int, float]]:
        import psutil
        try:
            root = psutil.Process(self.pid)
            procs = [root] + root.children(recursive=True)
        except psutil.Error:
            return []
        rows = []
        for proc in procs:
            try:
                with proc.oneshot():
                    rss = proc.memory_info().rss
                    pss = 0
                    if self.pss_available:
                        try:
                            pss = proc.memory_full_info().pss
                        except (psutil.AccessDenied, AttributeError):
                            self.pss_available = False
                    t = proc.cpu_times()
                    rows.append((rss, pss, t.user + t.system + t.children_user + t.children_system))
            except psutil.Error:
                continue
        return rows

    def _sample_proc(self) -> list[tuple[int, int, float]]:
        rows = []
        for pid in _tree_pids_proc(self.pid):
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                # after the comm: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14) ... rss(21)
                cpu = sum(int(x) for x in fields[11:15]) / self.ticks
                rss = int(fields[21]) * self.page
            except (OSError, IndexError, ValueError):
                continue
            pss = 0
            if self.pss_available:
                try:
                    with open(f"/proc/{pid}/smaps_rollup") as f:
                        pss = next(int(line.split()[1]) * 1024 for line in f if line.startswith("Pss:"))
                except FileNotFoundError:
                    if not os.path.exists(f"/proc/{pid}"):
                        continue
                    self.pss_available = False
                except (OSError, StopIteration, ValueError):
                    pass
            rows.append((rss, pss, cpu))
        return rows

    def summary(self) -> dict:
        loads = self.loads
        return {"backend": self.backend, "samples": self.samples, "interval_s": self.interval,
                "peak_tree_rss_mb": mb(self.peak_rss), "peak_tree_pss_mb": mb(self.peak_pss) if self.pss_available
                else None, "peak_single_process_rss_mb": mb(self.peak_single_rss), "peak_processes": self.peak_procs,
                "tree_cpu_s": round(self.cpu_s, 2),
                "load1_during": {"mean": round(sum(loads) / len(loads), 2), "max": round(max(loads), 2)}
                if loads else None}


def mb(nbytes: float) -> float:
    return round(nbytes / 2**20, 1)


def measure(cmd: list[str], log_path: Path, interval: float, what: str) -> dict:
    """Run ``cmd`` as a child (stdout + stderr to ``log_path``) and measure it (see the module docstring).

    Raises BenchError with the end of the log when it exits non-zero."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()[0]
    children0, self0 = resource.getrusage(resource.RUSAGE_CHILDREN), resource.getrusage(resource.RUSAGE_SELF)
    print(f"[{now()}] {what}: {' '.join(shlex.quote(c) for c in cmd)}", file=sys.stderr, flush=True)
    with open(log_path, "w") as log:
        log.write(f"$ {' '.join(shlex.quote(c) for c in cmd)}\n")
        log.flush()
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=str(REPO), env=child_env())
        sampler = TreeSampler(proc.pid, interval)
        sampler.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:
            proc.kill()
            proc.wait()
            sampler.stop()
            raise
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        sampler.stop()
    children1, self1 = resource.getrusage(resource.RUSAGE_CHILDREN), resource.getrusage(resource.RUSAGE_SELF)
    load_after = os.getloadavg()[0]
    result = {
        "command": cmd, "log": str(log_path), "exit_code": proc.returncode,
        "wall_s": round(wall, 2),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "cpu_user_s": round(usage.ru_utime, 2), "cpu_sys_s": round(usage.ru_stime, 2),
        "cpu_s_rusage_children_delta": round(children1.ru_utime + children1.ru_stime
                                             - children0.ru_utime - children0.ru_stime, 2),
        "cores_used_mean": round((usage.ru_utime + usage.ru_stime) / wall, 2) if wall > 0 else None,
        "peak_rss_mb_largest_process": round(usage.ru_maxrss / 1024, 1),  # Linux: KiB
        "sampled": sampler.summary(),
        "bench_overhead_cpu_s": round(self1.ru_utime + self1.ru_stime - self0.ru_utime - self0.ru_stime, 2),
        "load1_before": round(load_before, 2), "load1_after": round(load_after, 2),
        "started_at": iso(time.time() - wall),
    }
    print(f"[{now()}] {what}: exit {proc.returncode}, {wall:.1f} s wall, {result['cpu_s']:.1f} CPU-s, "
          f"peak RSS {result['peak_rss_mb_largest_process']:.0f} MB, load {load_before:.2f} -> {load_after:.2f}",
          file=sys.stderr, flush=True)
    if proc.returncode != 0:
        text = log_path.read_text(errors="replace")
        raise BenchError(f"{what} failed (exit {proc.returncode}); log {log_path}:\n{tail(text)}", ) from None
    return result


def now() -> str:
    return dt.datetime.now().strftime("%H:%M:%S")


def iso(ts: float | None = None) -> str:
    return dt.datetime.fromtimestamp(ts if ts is not None else time.time(), dt.timezone.utc).isoformat(
        timespec="seconds")


# ------------------------------------------------------------------------------------------------
# steps

def dataset_dir(root: Path, n: int) -> Path:
    return root / "data" / f"listeners={n}"


def ensure_dataset(args, cli, root: Path, n: int) -> dict:
    """Generate (timed) or reuse the dataset of ``n`` listeners; returns its record."""
    out = dataset_dir(root, n)
    timing = out.parent / f"listeners={n}.generate.json"
    want = {"listeners": n, "days": args.days, "seed": args.seed, "end": args.date}
    marker = out / "_dataset.json"
    if marker.exists() and not args.regenerate:
        summary = json.loads(marker.read_text())
        have = {k: summary.get("provenance", {}).get(k) for k in want}
        if have == want:
            rec = {"path": str(out), "reused": True, "tables": summary.get("tables", {})}
            if timing.exists():
                rec["generate"] = json.loads(timing.read_text())
            print(f"[{now()}] dataset {n:,} listeners: reusing {out}", file=sys.stderr)
            return rec
        print(f"[{now()}] dataset {out} has provenance {have}, not {want}: regenerating", file=sys.stderr)
    if out.exists():
        shutil.rmtree(out)
    cmd = cli + ["generate", "--listeners", str(n), "--days", str(args.days), "--seed", str(args.seed),
                 "--end", args.date, "--output", str(out)]
    m = measure(cmd, root / "logs" / f"generate-{n}.log", args.sample_interval, f"generate {n:,}")
    summary = json.loads(marker.read_text())
    m["events"] = summary.get("tables", {}).get("events")
    m["events_per_wall_s"] = round(m["events"] / m["wall_s"]) if m["events"] and m["wall_s"] else None
    timing.write_text(json.dumps(m, indent=2))
    return {"path": str(out), "reused": False, "tables": summary.get("tables", {}), "generate": m}


def training_dates(date: str) -> list[str]:
    d = dt.date.fromisoformat(date)
    return [(d - dt.timedelta(days=i)).isoformat() for i in range(7, 0, -1)]


def spec_fingerprints() -> dict[str, str] | None:
    """Current feature spec fingerprints per model shelf, or None when the repository cannot be imported."""
    sys.path.insert(0, str(REPO))
    try:
        from transforms.features.feature_spec import spec_fingerprint
        return {s: spec_fingerprint(s) for s in MODEL_SHELVES}
    except Exception:  # a half-edited tree must not stop the bench: it then retrains
        return None


def ensure_models(args, cli, root: Path, train_data: Path) -> dict:
    """Build examples, train the three model shelves, register and promote them (or reuse them)."""
    train_root = root / "train"
    registry, record_path = train_root / "registry", train_root / "bench_models.json"
    provenance = {"listeners": args.train_listeners, "days": args.days, "seed": args.seed, "date": args.date,
                  "as_of": training_dates(args.date), "horizon": "1d", "config": args.config}
    fingerprints = spec_fingerprints()
    sys.path.insert(0, str(REPO))
    try:
        from models.lifecycle.registry import Registry
    except Exception as err:
        raise BenchError(f"cannot import models.lifecycle.registry from {REPO} to register the models: {err!r}") from err
    reg = Registry(str(registry))
    if record_path.exists() and not args.retrain:
        rec = json.loads(record_path.read_text())
        ok = rec.get("provenance") == provenance and fingerprints is not None
        for shelf in MODEL_SHELVES if ok else ():
            version = rec["versions"].get(shelf)
            if reg.alias(shelf, "production") != version:
                ok = False
                break
            try:
                reg.verify(shelf, version)
                meta = reg.metadata(shelf, version)
            except Exception:
                ok = False
                break
            ok = ok and meta.get("feature_spec_fingerprint") == fingerprints[shelf]
        if ok:
            print(f"[{now()}] models: reusing production versions in {registry}", file=sys.stderr)
            return {**rec, "reused": True}
        print(f"[{now()}] models: recorded models do not match (data, config or feature spec changed): retraining",
              file=sys.stderr)
    for sub in ("examples", "models", "registry"):
        if (train_root / sub).exists():
            shutil.rmtree(train_root / sub)
    train_root.mkdir(parents=True, exist_ok=True)
    cfg = ["--config", args.config] if args.config else []
    examples = train_root / "examples"
    steps = {"build_examples": measure(
        cli + ["build-examples", "--as-of", ",".join(provenance["as_of"]), "--horizon", "1d",
               "--input", str(train_data), "--output", str(examples), "--runner", "DirectRunner"] + cfg,
        root / "logs" / "build-examples.log", args.sample_interval, "build-examples")}
    versions, model_dirs = {}, {}
    for shelf in MODEL_SHELVES:
        model_dir = train_root / "models" / shelf
        steps[f"train_{shelf}"] = measure(
            cli + ["train", "--shelf", shelf, "--examples", str(examples), "--output", str(model_dir)] + cfg,
            root / "logs" / f"train-{shelf}.log", args.sample_interval, f"train {shelf}")
        version = reg.register(shelf, str(model_dir))
        reg.promote(shelf, version, reason="bench/daily_scale.py")
        versions[shelf], model_dirs[shelf] = version, str(model_dir)
        print(f"[{now()}] registered and promoted {shelf} {version}", file=sys.stderr)
    summary_path = examples / "summary.json"
    rec = {"provenance": provenance, "registry": str(registry), "versions": versions, "model_dirs": model_dirs,
           "examples_summary": json.loads(summary_path.read_text()) if summary_path.exists() else None,
           "steps": steps, "trained_at": iso()}
    record_path.write_text(json.dumps(rec, indent=2))
    return {**rec, "reused": False}


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def parquet_rows(folder: Path) -> int | None:
    if not folder.exists():
        return None
    import pyarrow.parquet as pq
    return sum(pq.ParquetFile(f).metadata.num_rows for f in sorted(folder.rglob("*.parquet")))


def shelf_counts(out: Path, date: str, manifest: dict, log_features: bool) -> dict:
    """Per model shelf: listeners served (with rows), candidate rows scored, listeners scored, features."""
    result = {}
    for shelf in MODEL_SHELVES:
        entry = (manifest.get("shelves") or {}).get(shelf, {})
        rec = {"listeners_with_rows": entry.get("listeners"), "output_rows": entry.get("rows"),
               "ranking": entry.get("ranking"), "fallback": entry.get("fallback"),
               "fallback_reason": entry.get("fallback_reason"), "model_version": entry.get("model_version")}
        for key in CANDIDATE_KEYS:
            if isinstance(entry.get(key), (int, float)):
                rec.update(candidate_rows=int(entry[key]), candidate_rows_from=f"manifest shelves.{shelf}.{key}")
                break
        stats = read_json(out / "feature_stats" / f"dt={date}" / f"{shelf}.json")
        if stats:
            rec["stats_features"] = len(stats.get("features", {}))
            rec["listeners_scored"] = stats.get("n_listeners")
            if "candidate_rows" not in rec and stats.get("n_rows") is not None:
                rec.update(candidate_rows=int(stats["n_rows"]),
                           candidate_rows_from=f"feature_stats/dt={date}/{shelf}.json n_rows")
        if log_features:
            served = parquet_rows(out / "served_features" / f"dt={date}" / f"shelf={shelf}")
            rec["served_features_rows"] = served
            if "candidate_rows" not in rec and served is not None:
                rec.update(candidate_rows=served, candidate_rows_from=f"served_features/dt={date}/shelf={shelf}")
        result[shelf] = rec
    return result


def num_features(model_json: str) -> int | None:
    import xgboost as xgb
    try:
        booster = xgb.Booster()
        booster.load_model(model_json)
        return booster.num_features()
    except (xgb.core.XGBoostError, OSError):
        return None


def run_daily(args, cli, root: Path, n: int, data: Path, registry: str, model_dirs: dict) -> dict:
    out = root / "out" / f"listeners={n}"
    if out.exists():
        shutil.rmtree(out)
    cmd = cli + ["daily", "--date", args.date, "--input", str(data), "--output", str(out), "--models", registry,
                 "--runner", args.runner]
    if args.config:
        cmd += ["--config", args.config]
    if args.log_features:
        cmd.append("--log-features")
    cmd += shlex.split(args.beam_args)
    m = measure(cmd, root / "logs" / f"daily-{n}.log", args.sample_interval, f"daily {n:,}")
    manifest_path = out / "_manifests" / f"dt={args.date}" / "manifest.json"
    manifest = read_json(manifest_path)
    if manifest is None:
        raise BenchError(f"daily {n:,}: exit 0 but no manifest at {manifest_path}")
    listeners = (manifest.get("listeners") or {}).get("served")
    m["listeners_from"] = "manifest listeners.served"
    if listeners is None:
        lis = manifest.get("listeners") or {}
        listeners = (lis.get("with_events") or 0) + (lis.get("without_events") or 0) or None
        m["listeners_from"] = "manifest listeners.with_events + without_events"
    m["manifest"] = {"path": str(manifest_path), "run_id": manifest.get("run_id"),
                     "timings_s": manifest.get("timings_s"), "listeners": manifest.get("listeners"),
                     "inputs": {t: {k: v for k, v in c.items() if k != "files"}
                                for t, c in (manifest.get("inputs") or {}).items()},
                     "models": manifest.get("models")}
    m["listeners"] = listeners
    m["shelves"] = shelf_counts(out, args.date, manifest, args.log_features)
    served_versions = (manifest.get("models") or {}).get("versions") or {}
    for shelf, rec in m["shelves"].items():
        # the floor uses exactly the model the job served (the registry's version folder)
        if shelf in served_versions:
            rec["model_json"] = str(Path(registry) / "models" / shelf / "versions" / served_versions[shelf] / "model.json")
        else:
            rec["model_json"] = str(Path(model_dirs[shelf]) / "model.json") if shelf in model_dirs else None
        rec["features"] = num_features(rec["model_json"]) if rec["model_json"] else None
    m["all_models_served"] = all(s["ranking"] == "model" and not s["fallback"] for s in m["shelves"].values())
    rows = [s.get("candidate_rows") for s in m["shelves"].values()]
    m["candidate_rows_total"] = sum(rows) if all(r is not None for r in rows) else None
    cpu, wall = m["cpu_s"], m["wall_s"]
    m["derived"] = {
        "listeners_per_cpu_s": round(listeners / cpu, 2) if listeners and cpu else None,
        "listeners_per_wall_s": round(listeners / wall, 2) if listeners and wall else None,
        "cpu_ms_per_listener": round(1000 * cpu / listeners, 2) if listeners else None,
        "candidate_rows_per_listener": round(m["candidate_rows_total"] / listeners, 2)
        if listeners and m["candidate_rows_total"] is not None else None,
    }
    return m


def load_config(path: str | None) -> dict:
    """The effective config: the repository's loader (``transforms.config.config`` since the package split,
    ``transforms.config`` before it); for a tree older than the typed config, its packaged YAML + FILE."""
    sys.path.insert(0, str(REPO))
    try:
        from transforms.config.config import load_config as repo_load
        return repo_load(path)
    except ImportError:
        pass
    try:
        from transforms.config import load_config as flat_load
        return flat_load(path)
    except ImportError:
        import yaml
        cfg = yaml.safe_load((REPO / "transforms" / "default_config.yaml").read_text())
        if path:
            user = yaml.safe_load(Path(path).read_text()) or {}
            for shelf, over in (user.get("shelves") or {}).items():
                cfg["shelves"].setdefault(shelf, {}).update(over)
        return cfg


def floor(shelves: dict, config: dict, repeats: int, chunk_rows: int, seed: int) -> dict:
    """numpy + xgboost ``inplace_predict`` + a vectorised top-k per listener on random float32 matrices of
    the shapes the job scored (see the module docstring). Returns per shelf and total figures."""
    import numpy as np
    import xgboost as xgb

    plan = {}
    for shelf, counts in shelves.items():
        rows, listeners = counts.get("candidate_rows"), counts.get("listeners_scored") or counts.get(
            "listeners_with_rows")
        if not rows or not listeners or not counts.get("model_json"):
            continue
        booster = xgb.Booster()
        booster.load_model(counts["model_json"])
        k = int(config["shelves"][shelf]["size"])
        sizes = np.full(listeners, rows // listeners, dtype=np.int64)
        sizes[: rows % listeners] += 1
        # whole listeners per chunk: a listener belongs to the chunk where its last row falls, so a chunk
        # holds about chunk_rows rows (at most one listener's rows more)
        chunk_of = (np.cumsum(sizes) - 1) // chunk_rows
        cuts = np.r_[0, np.flatnonzero(np.diff(chunk_of)) + 1, listeners]
        bounds = [(int(a), int(b)) for a, b in zip(cuts[:-1], cuts[1:])]
        plan[shelf] = (booster, k, sizes, bounds)

    passes = []
    for rep in range(repeats):
        rng = np.random.default_rng(seed + rep)
        per = {}
        for shelf, (booster, k, sizes, bounds) in plan.items():
            nf = booster.num_features()
            fig = {"rows": int(sizes.sum()), "listeners": len(sizes), "features": nf, "k": k, "chunks": len(bounds),
                   "predict_wall_s": 0.0, "predict_cpu_s": 0.0, "topk_wall_s": 0.0, "topk_cpu_s": 0.0, "kept": 0}
            for lo, hi in bounds:
                n = int(sizes[lo:hi].sum())
                X = rng.random((n, nf), dtype=np.float32)
                group = np.repeat(np.arange(lo, hi, dtype=np.int64), sizes[lo:hi])
                w0, c0 = time.perf_counter(), time.process_time()
                scores = booster.inplace_predict(X)
                w1, c1 = time.perf_counter(), time.process_time()
                order = np.lexsort((-scores, group))
                g = group[order]
                first = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
                rank = np.arange(n) - np.repeat(first, np.diff(np.r_[first, n]))
                top = order[rank < k]
                w2, c2 = time.perf_counter(), time.process_time()
                fig["predict_wall_s"] += w1 - w0
                fig["predict_cpu_s"] += c1 - c0
                fig["topk_wall_s"] += w2 - w1
                fig["topk_cpu_s"] += c2 - c1
                fig["kept"] += len(top)
                del X, group, scores, order, g, rank, top
            fig["wall_s"] = fig["predict_wall_s"] + fig["topk_wall_s"]
            fig["cpu_s"] = fig["predict_cpu_s"] + fig["topk_cpu_s"]
            per[shelf] = {key: round(v, 4) if isinstance(v, float) else v for key, v in fig.items()}
        passes.append({"shelves": per, "wall_s": round(sum(f["wall_s"] for f in per.values()), 4),
                       "cpu_s": round(sum(f["cpu_s"] for f in per.values()), 4)})
    if not passes:
        return {}
    best = min(passes, key=lambda p: p["wall_s"])
    return {**best, "passes": [{"wall_s": p["wall_s"], "cpu_s": p["cpu_s"]} for p in passes],
            "xgboost_nthread": "default (all cores)"}


def run_floor(args, daily: dict, config: dict) -> dict:
    load_before = os.getloadavg()[0]
    print(f"[{now()}] floor: {args.floor_repeats} pass(es)", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    f = floor(daily["shelves"], config, args.floor_repeats, args.floor_chunk_rows, args.seed)
    f["load1_before"], f["load1_after"] = round(load_before, 2), round(os.getloadavg()[0], 2)
    f["total_elapsed_s"] = round(time.perf_counter() - t0, 2)
    if f.get("wall_s"):
        f["job_over_floor_wall"] = round(daily["wall_s"] / f["wall_s"], 1)
        f["job_over_floor_cpu"] = round(daily["cpu_s"] / f["cpu_s"], 1) if f["cpu_s"] else None
        print(f"[{now()}] floor: {f['wall_s']:.2f} s wall, {f['cpu_s']:.2f} CPU-s; job/floor wall "
              f"{f['job_over_floor_wall']}x, CPU {f['job_over_floor_cpu']}x", file=sys.stderr, flush=True)
    return f


# ------------------------------------------------------------------------------------------------
# report

def secs(s: float | None) -> str:
    if s is None:
        return "-"
    if s < 10:
        return f"{s:.2f} s"
    if s < 120:
        return f"{s:.1f} s"
    h, rest = divmod(round(s), 3600)
    m_, s_ = divmod(rest, 60)
    return f"{h} h {m_} min" if h else f"{m_} min {s_:02d} s"


def num(x, digits: int = 0) -> str:
    if x is None:
        return "-"
    return f"{x:,.{digits}f}"


def load_str(m: dict) -> str:
    during = (m.get("sampled") or {}).get("load1_during")
    mid = f", mean {during['mean']:.1f}" if during else ""
    return f"{m['load1_before']:.1f} -> {m['load1_after']:.1f}{mid}"


def gb_or_mb(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v / 1024:.2f} GB" if v >= 1024 else f"{v:.0f} MB"


def markdown(results: dict) -> str:
    mi, st = results["machine"], results["settings"]
    rp = results["repo"]
    code = (f"commit {rp['commit']}{' + local changes' if rp['modified_files'] else ''}" if rp["commit"]
            else f"code {rp['path']} (not a git checkout)")
    lines = [f"### daily_scale ({results['started_at'][:10]}, {code}; {mi.get('cpus')} cores, "
             f"{mi.get('mem_total_gb')} GB; `{results['command']}`)", ""]
    lines += ["Daily job with models (`home-recs daily --date {0} --models REGISTRY --runner {1}{2}`); CPU = user + sys "
              "of the whole process tree; load = 1-minute load average before -> after (mean during the run).".format(
                  st["date"], st["runner"], (" --log-features" if st["log_features"] else "")
                  + ((" " + st["beam_args"]) if st["beam_args"] else "")), ""]
    lines += ["| listeners served | events | wall | CPU | listeners / CPU-s | listeners / s | peak RSS (largest "
              "process / tree PSS) | scored rows / listener (shortcuts, podcasts, playlists per listener of the "
              "shelf) | features / row | floor wall / CPU | job / floor (wall, CPU) | load |",
              "|" + "---|" * 12]
    for r in results["runs"]:
        d, f = r.get("daily"), r.get("floor") or {}
        if not d:
            lines.append(f"| {r['listeners_requested']:,} (failed: {r.get('error', '?')[:60]}) |" + " |" * 11)
            continue
        sh = d["shelves"]
        per_shelf = ", ".join(
            num(s["candidate_rows"] / s["listeners_scored"], 1) if s.get("candidate_rows") and s.get(
                "listeners_scored") else "-" for s in sh.values())
        feats = "/".join(str(s.get("features") or s.get("stats_features") or "-") for s in sh.values())
        tree_pss = d["sampled"].get("peak_tree_pss_mb") or d["sampled"].get("peak_tree_rss_mb")
        floor_load = f"; floor {f['load1_before']:.1f} -> {f['load1_after']:.1f}" if f else ""
        lines.append(
            f"| {num(d['listeners'])}{'' if d['all_models_served'] else ' (FALLBACK!)'} "
            f"| {num(r['dataset']['tables'].get('events'))} | {secs(d['wall_s'])} | {secs(d['cpu_s'])} "
            f"| {num(d['derived']['listeners_per_cpu_s'], 1)} | {num(d['derived']['listeners_per_wall_s'], 1)} "
            f"| {gb_or_mb(d['peak_rss_mb_largest_process'])} / {gb_or_mb(tree_pss)} "
            f"| {num(d['derived']['candidate_rows_per_listener'], 1)} ({per_shelf}) | {feats} "
            f"| {secs(f.get('wall_s'))} / {secs(f.get('cpu_s'))} "
            f"| {f.get('job_over_floor_wall', '-')}x, {f.get('job_over_floor_cpu', '-')}x "
            f"| {load_str(d)}{floor_load} |")
    lines += ["", "Floor per shelf (best of {0} passes; random float32 matrices of the job's shapes, one "
              "`inplace_predict` per chunk of <= {1:,} rows, then top-k per listener by lexsort):".format(
                  st["floor_repeats"], st["floor_chunk_rows"]), "",
              "| listeners | shelf | listeners scored | candidate rows | features | k | predict wall / CPU | top-k wall / CPU |",
              "|---|---|---|---|---|---|---|---|"]
    for r in results["runs"]:
        f = r.get("floor") or {}
        for shelf, s in (f.get("shelves") or {}).items():
            lines.append(f"| {num(r['daily']['listeners'])} | {shelf} | {num(s['listeners'])} | {num(s['rows'])} "
                         f"| {s['features']} | {s['k']} | {secs(s['predict_wall_s'])} / {secs(s['predict_cpu_s'])} "
                         f"| {secs(s['topk_wall_s'])} / {secs(s['topk_cpu_s'])} |")
    lines += ["", "Generator (`home-recs generate --listeners N --days {0} --seed {1} --end {2}`):".format(
        st["days"], st["seed"], st["date"]), "",
        "| listeners | events | wall | CPU | events / s | peak RSS | load | |", "|---|---|---|---|---|---|---|---|"]
    for n, ds in results["datasets"].items():
        g = ds.get("generate")
        if not g:
            lines.append(f"| {int(n):,} | {num(ds['tables'].get('events'))} | - | - | - | - | - | reused, not timed |")
            continue
        lines.append(f"| {int(n):,} | {num(ds['tables'].get('events'))} | {secs(g['wall_s'])} | {secs(g['cpu_s'])} "
                     f"| {num(g.get('events_per_wall_s'))} | {gb_or_mb(g['peak_rss_mb_largest_process'])} "
                     f"| {load_str(g)} | {'timed in an earlier run (' + g['started_at'][:10] + ')' if ds['reused'] else ''} |")
    t = results.get("training") or {}
    if t.get("steps"):
        lines += ["", f"Models: trained once on {t['provenance']['listeners']:,} listeners, examples at "
                  f"{t['provenance']['as_of'][0]}..{t['provenance']['as_of'][-1]} (horizon 1d)"
                  f"{' (reused from ' + t['trained_at'][:10] + ')' if t.get('reused') else ''}: "
                  + "; ".join(f"{k.replace('_', ' ')} {secs(v['wall_s'])} (load {v['load1_before']:.1f})"
                              for k, v in t["steps"].items()) + "."]
    return "\n".join(lines) + "\n"


def write_results(path: Path, results: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(results, indent=2, default=str))
    os.replace(tmp, path)


# ------------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        dt.date.fromisoformat(args.date)
    except ValueError:
        print(f"daily_scale: error: --date must be YYYY-MM-DD, got {args.date!r}", file=sys.stderr)
        return 2
    if args.train_listeners < 1 or args.floor_repeats < 1 or args.floor_chunk_rows < 1:
        print("daily_scale: error: --train-listeners, --floor-repeats and --floor-chunk-rows must be >= 1",
              file=sys.stderr)
        return 2
    global REPO
    if args.repo:
        REPO = Path(args.repo).resolve()
        if not (REPO / "jobs" / "cli.py").exists():
            print(f"daily_scale: error: --repo {args.repo}: no jobs/cli.py there (not a home-recs tree)", file=sys.stderr)
            return 2
    root = Path(args.data_root).resolve()
    out_path = Path(args.out).resolve() if args.out else root / "results.json"
    try:
        cli = find_cli(args.home_recs)
        ensure_interpreter(cli)
        (root / "logs").mkdir(parents=True, exist_ok=True)
        check_cli(cli, root / "logs")
    except BenchError as err:
        print(f"daily_scale: error: {err}", file=sys.stderr)
        return 2
    config = load_config(args.config)
    results = {
        "benchmark": "bench/daily_scale.py", "started_at": iso(), "finished_at": None,
        "command": " ".join(["python bench/daily_scale.py"] + [shlex.quote(a) for a in (argv or sys.argv[1:])]),
        "machine": machine_info(), "repo": repo_info(),
        "settings": {"sizes": args.sizes, "train_listeners": args.train_listeners, "days": args.days,
                     "seed": args.seed, "date": args.date, "runner": args.runner, "beam_args": args.beam_args,
                     "config": args.config, "log_features": args.log_features, "data_root": str(root),
                     "home_recs": cli, "floor_repeats": args.floor_repeats, "floor_chunk_rows": args.floor_chunk_rows,
                     "sample_interval_s": args.sample_interval,
                     "sampler": TreeSampler(os.getpid(), 1).backend},
        "datasets": {}, "training": None, "runs": [], "errors": [],
    }
    status = 0
    try:
        for n in dict.fromkeys([args.train_listeners] + args.sizes):
            results["datasets"][str(n)] = ensure_dataset(args, cli, root, n)
            write_results(out_path, results)
        results["training"] = models = ensure_models(args, cli, root, dataset_dir(root, args.train_listeners))
        write_results(out_path, results)
        for n in args.sizes:
            run = {"listeners_requested": n, "dataset": results["datasets"][str(n)]}
            results["runs"].append(run)
            try:
                run["daily"] = daily = run_daily(args, cli, root, n, dataset_dir(root, n), models["registry"],
                                                 models["model_dirs"])
            except BenchError as err:
                run["error"] = str(err).splitlines()[0]
                results["errors"].append(str(err))
                print(f"daily_scale: error: {err}", file=sys.stderr)
                status = 1
                write_results(out_path, results)
                if args.keep_going:
                    continue
                break
            if not daily["all_models_served"]:
                msg = (f"daily {n:,}: not every model shelf was served by its model: "
                       + ", ".join(f"{s}={v['ranking']}{' (fallback: ' + str(v['fallback_reason']) + ')' if v['fallback'] else ''}"
                                   for s, v in daily["shelves"].items()))
                results["errors"].append(msg)
                print(f"daily_scale: WARNING: {msg}", file=sys.stderr)
                status = 1
            for s, v in daily["shelves"].items():
                if v.get("stats_features") not in (None, v.get("features")):
                    results["errors"].append(f"daily {n:,} {s}: the model has {v.get('features')} features but the "
                                             f"serving statistics {v['stats_features']}")
            if not args.no_floor:
                run["floor"] = run_floor(args, daily, config)
            write_results(out_path, results)
    except BenchError as err:
        results["errors"].append(str(err))
        print(f"daily_scale: error: {err}", file=sys.stderr)
        status = 1
    except KeyboardInterrupt:
        results["errors"].append("interrupted")
        status = 1
    results["finished_at"] = iso()
    write_results(out_path, results)
    report = markdown(results)
    if args.markdown:
        Path(args.markdown).write_text(report)
    print(report)
    print(f"results: {out_path}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
