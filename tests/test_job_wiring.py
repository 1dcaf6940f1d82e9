"""Issue 13 point 2: jobs are wiring. The import rules, read from the source with ast (nothing is
imported but jobs.cli's command table), and one composite transform on inline elements."""
from __future__ import annotations

import ast
from pathlib import Path

import apache_beam as beam
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that, equal_to

from jobs.cli import COMMAND_MODULES

ROOT = Path(__file__).resolve().parents[1]
DAY_MS = 86_400_000


def imported_modules(path: Path, root: Path = ROOT) -> set[str]:
    """Every project module ``path`` imports, at module level or inside a function: ``import a.b``
    -> a.b; ``from a import b`` -> a.b when a/b.py (or a/b/) exists, else a; relative imports are
    resolved against ``path``'s package."""
    package = path.relative_to(root).with_suffix("").parts[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[:len(package) - node.level + 1] + ((base,) if base else ()))
            for alias in node.names:
                sub = root.joinpath(*base.split("."), alias.name)
                found.add(f"{base}.{alias.name}" if sub.with_suffix(".py").exists() or sub.is_dir() else base)
    return {m for m in found if m.split(".")[0] in ("jobs", "models", "transforms")}


def module_name(path: Path, root: Path = ROOT) -> str:
    return ".".join(path.relative_to(root).with_suffix("").parts)


def import_rule_breaches(root: Path = ROOT, commands=COMMAND_MODULES) -> list[str]:
    """``importer -> imported`` for each import that breaks the dependency rules: a job (a module of
    jobs.cli's COMMANDS) importing another job; transforms importing jobs or models; models
    importing jobs."""
    jobs = set(commands)
    out = []
    for path in sorted(p for d in ("jobs", "models", "transforms") for p in (root / d).rglob("*.py")):
        me = module_name(path, root)
        for dep in sorted(imported_modules(path, root)):
            top = dep.split(".")[0]
            if (me in jobs and dep in jobs and dep != me) \
                    or (me.startswith("transforms.") and top in ("jobs", "models")) \
                    or (me.startswith("models.") and top == "jobs"):
                out.append(f"{me} -> {dep}")
    return out


def import_cycle(root: Path = ROOT) -> list[str]:
    """One import cycle among the project's modules (lazy imports included), as ``[a, b, ..., a]``;
    empty when there is none."""
    graph = {}
    for path in (p for d in ("jobs", "models", "transforms") for p in (root / d).rglob("*.py")):
        name = module_name(path, root).removesuffix(".__init__")
        graph[name] = imported_modules(path, root)
    state: dict[str, int] = {}   # 1: on the current path, 2: done

    def visit(node, trail):
        state[node] = 1
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                return trail[trail.index(dep):] + [dep]
            if dep in graph and dep not in state:
                found = visit(dep, trail + [dep])
                if found:
                    return found
        state[node] = 2
        return []

    for start in sorted(graph):
        found = [] if start in state else visit(start, [start])
        if found:
            return found
    return []


def test_imported_modules_resolves_every_import_form(tmp_path):
    (tmp_path / "jobs" / "pipelines").mkdir(parents=True)
    for name in ("jobs/daily.py", "jobs/common.py", "jobs/pipelines/__init__.py", "jobs/pipelines/drift.py"):
        (tmp_path / name).touch()
    (tmp_path / "jobs" / "pipelines" / "daily.py").write_text(
        "import os\nfrom jobs import daily\nfrom jobs.common import X, Y\nfrom . import drift\n"
        "def f():\n    import transforms.io.storage\n    from models import nothing_here\n")
    assert imported_modules(tmp_path / "jobs" / "pipelines" / "daily.py", tmp_path) == {
        "jobs.daily", "jobs.common", "jobs.pipelines.drift", "transforms.io.storage", "models"}


def test_no_job_imports_another_job_and_the_layers_point_one_way():
    assert import_rule_breaches() == []


def test_no_import_cycles():
    assert import_cycle() == []


def test_the_cycle_check_finds_a_cycle_through_a_lazy_import(tmp_path):
    (tmp_path / "jobs").mkdir()
    (tmp_path / "jobs" / "a.py").write_text("from jobs import b\n")
    (tmp_path / "jobs" / "b.py").write_text("def f():\n    import jobs.a\n")
    assert import_cycle(tmp_path) == ["jobs.a", "jobs.b", "jobs.a"]


def test_the_rule_catches_a_job_importing_a_job_and_a_lower_layer_importing_up(tmp_path):
    for d in ("jobs", "models", "transforms"):
        (tmp_path / d).mkdir()
    (tmp_path / "jobs" / "a.py").write_text("def run():\n    from jobs import b\n")   # lazy, still counted
    (tmp_path / "jobs" / "b.py").write_text("from jobs.plumbing import x\n")
    (tmp_path / "jobs" / "plumbing.py").write_text("from models import m\n")
    (tmp_path / "models" / "m.py").write_text("import jobs.plumbing\n")
    (tmp_path / "transforms" / "t.py").write_text("from models.m import y\n")
    assert import_rule_breaches(tmp_path, ("jobs.a", "jobs.b")) == [
        "jobs.a -> jobs.b", "models.m -> jobs.plumbing", "transforms.t -> models.m"]


def test_candidate_recall_composite_sums_batches_per_date_and_overall():
    from jobs.pipelines.examples import CandidateRecall

    partials = [(0, {"shortcuts": {"positives": 4, "found": 1, "listeners": 2}}),
                (0, {"shortcuts": {"positives": 6, "found": 2, "listeners": 3}}),
                (DAY_MS, {"shortcuts": {"positives": 0, "found": 0, "listeners": 1},
                          "podcasts": {"positives": 5, "found": 5, "listeners": 1}})]
    day1 = {"shortcuts": {"positives": 10, "found": 3, "listeners": 5, "recall": 0.3}}
    day2 = {"shortcuts": {"positives": 0, "found": 0, "listeners": 1, "recall": None},
            "podcasts": {"positives": 5, "found": 5, "listeners": 1, "recall": 1.0}}
    overall = {"shortcuts": {"positives": 10, "found": 3, "listeners": 6, "recall": 0.3},
               "podcasts": {"positives": 5, "found": 5, "listeners": 1, "recall": 1.0}}
    with test_pipeline.TestPipeline(runner=FnApiRunner()) as p:
        report = p | beam.Create(partials) | CandidateRecall()
        assert_that(report, equal_to([{"by_as_of": {"1970-01-01": day1, "1970-01-02": day2}, "overall": overall}]))


# Issue 13 point 3: modules live in a subpackage named for their concern; only these stay at the top
# (each is shared by every concern of its layer).
SHARED_TOP_MODULES = {"transforms": {"__init__", "errors"},
                      "models": {"__init__", "config_checks", "spark_session"}}


def top_level_strays(root: Path = ROOT) -> list[str]:
    """``layer/name.py`` for each module directly under transforms/ or models/ that is not one of
    SHARED_TOP_MODULES, sorted."""
    return sorted(f"{layer}/{p.name}" for layer, keep in SHARED_TOP_MODULES.items()
                  for p in (root / layer).glob("*.py") if p.stem not in keep)


def test_transforms_and_models_are_split_by_concern():
    assert top_level_strays() == []
    for layer in SHARED_TOP_MODULES:   # every subpackage is a package (find_packages needs __init__.py)
        subs = [d for d in (ROOT / layer).iterdir() if d.is_dir() and d.name != "__pycache__"]
        assert len(subs) >= 5 and all((d / "__init__.py").is_file() for d in subs), subs


def test_a_module_added_at_the_top_is_a_stray(tmp_path):
    for layer in ("transforms", "models"):
        (tmp_path / layer).mkdir()
        (tmp_path / layer / "__init__.py").touch()
    (tmp_path / "transforms" / "errors.py").touch()
    (tmp_path / "transforms" / "drift.py").touch()
    (tmp_path / "models" / "ranker.py").touch()
    assert top_level_strays(tmp_path) == ["models/ranker.py", "transforms/drift.py"]
