"""Which code produced an output: the installed version and, when known, the git commit."""
from __future__ import annotations

import functools
import os
import subprocess


def code_version() -> str:
    """The installed ``home-recs`` distribution's version; "unknown" when run from a source tree
    that is not installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("home-recs")
    except PackageNotFoundError:
        return "unknown"


@functools.lru_cache(maxsize=1)
def git_commit() -> str | None:
    """``HOME_RECS_GIT_COMMIT`` when set (container images and Flex Templates have no .git), else
    the HEAD commit of the git checkout the code runs from, else None."""
    if os.environ.get("HOME_RECS_GIT_COMMIT"):
        return os.environ["HOME_RECS_GIT_COMMIT"]
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        out = subprocess.run(["git", "-C", here, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None
