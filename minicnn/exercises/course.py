"""The student's side: list the exercises, start one, check it.

    from minicnn import exercises
    exercises.start("relu", "work/")               # writes work/relu.py (the skeleton)
    report = exercises.check("relu", "work/")      # grades it
    print(exercises.format_report(report))
"""
from __future__ import annotations

import datetime
import hashlib
import os
import platform
from importlib import resources

import numpy

from minicnn.backend import use_backend
from minicnn.exercises.catalog import EXERCISES
from minicnn.exercises.grading import run_test
from minicnn.exercises.sandbox import StudentProcess
from minicnn.exercises.schema import SCHEMA_VERSION
from minicnn.runtime.fileio import atomic_write
from minicnn.version import __version__

__all__ = ["list_exercises", "start", "check", "status", "format_report", "skeleton",
           "exercise_path", "ExerciseError", "DEFAULT_TIME_LIMIT"]

DEFAULT_TIME_LIMIT = 30.0  # seconds per call of a student's function


class ExerciseError(ValueError):
    """A bad exercise name or file (one line, with the fix)."""


def _exercise(name: str):
    if name not in EXERCISES:
        raise ExerciseError(f"unknown exercise {name!r}; choose one of: "
                            f"{', '.join(EXERCISES)} (minicnn exercise list)")
    return EXERCISES[name]


def skeleton(name: str) -> str:
    """The source of exercise ``name``'s skeleton."""
    _exercise(name)
    return (resources.files("minicnn.exercises.skeletons") / f"{name}.py").read_text(
        encoding="utf-8")


def exercise_path(name: str, directory: str = ".") -> str:
    """Where the student's file of ``name`` lives: DIR/NAME.py."""
    return os.path.join(directory, f"{name}.py")


def start(name: str, directory: str = ".", force: bool = False) -> str:
    """Write the skeleton of ``name`` to DIR/NAME.py and return the path.

    Never overwrites a file unless ``force``.
    """
    source = skeleton(name)
    path = exercise_path(name, directory)
    if os.path.exists(path) and not force:
        where = "" if directory == "." else f" --dir {directory}"
        raise ExerciseError(f"{path} already exists; check it with `minicnn exercise check "
                            f"{name}{where}`, or pass --force to replace it with the skeleton")
    if not os.path.isdir(directory):
        raise ExerciseError(f"directory {directory!r} does not exist; create it first "
                            "or pick another --dir")
    with atomic_write(path, "w", encoding="utf-8") as f:
        f.write(source)
    return path


def check(name: str, directory: str = ".", time_limit: float = DEFAULT_TIME_LIMIT) -> dict:
    """Grade DIR/NAME.py; the report as a dict (schema: minicnn.exercises.REPORT_SCHEMA)."""
    exercise = _exercise(name)
    path = exercise_path(name, directory)
    if not os.path.isfile(path):
        raise ExerciseError(f"{path} does not exist; start the exercise with `minicnn "
                            f"exercise start {name}`" + (f" --dir {directory}"
                                                        if directory != "." else ""))
    with open(path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    # the engine's answers come from its NumPy references, whatever the default backend
    with use_backend("numpy"), StudentProcess(path, time_limit) as student:
        results = [run_test(test, student) for test in exercise.tests]
    passed = sum(r["status"] == "passed" for r in results)
    return {
        "schema_version": SCHEMA_VERSION,
        "exercise": name,
        "file": os.path.abspath(path),
        "file_sha256": digest,
        "passed": passed == len(results),
        "summary": {"passed": passed, "total": len(results)},
        "tests": results,
        "versions": {"minicnn": __version__, "numpy": numpy.__version__,
                     "python": platform.python_version()},
        "date": datetime.datetime.now(datetime.timezone.utc).astimezone().isoformat(
            timespec="seconds"),
    }


def status(name: str, directory: str = ".", time_limit: float = DEFAULT_TIME_LIMIT) -> str:
    """'not started', 'failing' or 'passing' for DIR/NAME.py."""
    if not os.path.isfile(exercise_path(name, directory)):
        return "not started"
    return "passing" if check(name, directory, time_limit)["passed"] else "failing"


def list_exercises(directory: str = ".", time_limit: float = DEFAULT_TIME_LIMIT) -> list:
    """[(name, description, status)] for every exercise, status in ``directory``."""
    return [(e.name, e.description, status(e.name, directory, time_limit))
            for e in EXERCISES.values()]


_MARK = {"passed": "PASS", "failed": "FAIL", "not_implemented": "TODO", "error": "ERROR",
         "timeout": "TIMEOUT"}


def _case_text(case) -> str:
    return ", ".join(f"{k}={tuple(v) if isinstance(v, list) else v}"
                     for k, v in case.items())


def format_report(report: dict) -> str:
    """The report as text, one block per test."""
    lines = [f"exercise {report['exercise']}: {report['file']}"]
    for t in report["tests"]:
        error = t["max_rel_error"]
        err = "" if error is None else f"  (max rel error {error:.2e}, threshold " \
            f"{t['threshold']:g})"
        lines.append(f"  {_MARK[t['status']]:<7} {t['name']}: {t['description']}"
                     + (err if t["status"] == "passed" else ""))
        if t["status"] != "passed":
            lines.append(f"          {t['message']}" + (
                f"  (threshold {t['threshold']:g})" if error is not None else ""))
            if t["case"]:
                lines.append(f"          case: {_case_text(t['case'])}")
            if t["hint"]:
                lines.append(f"          hint: {t['hint']}")
        if t["printed"]:
            first = t["printed"].strip().splitlines()[:1] or [""]
            lines.append(f"          note: your code printed (ignored): {first[0][:80]!r}")
    s = report["summary"]
    lines.append(f"{s['passed']}/{s['total']} tests passed"
                 + (": all done." if report["passed"] else ""))
    return "\n".join(lines)
