"""Coursework: exercises with skeletons, a grader that explains, and a plug into the engine.

    minicnn exercise list                 # every exercise and its status here
    minicnn exercise start conv_naive     # writes ./conv_naive.py, a skeleton
    minicnn exercise check conv_naive     # grades it: pass/fail, case, error, hint
    minicnn exercise plug conv_naive      # trains LeNet-5 on digits with your kernel

The grader runs the student's functions in a child process (``sandbox``) and
compares them with the engine (``catalog``), with the relative error and the
threshold of ``minicnn.gradient_check`` (``grading``). ``plug`` registers the
student's functions as kernels (``plug.ADAPTERS``). See docs/coursework.md.
"""
from minicnn.exercises.catalog import EXERCISES
from minicnn.exercises.course import (
    DEFAULT_TIME_LIMIT,
    ExerciseError,
    check,
    exercise_path,
    format_report,
    list_exercises,
    skeleton,
    start,
    status,
)
from minicnn.exercises.schema import REPORT_SCHEMA, SchemaError, validate

__all__ = [
    "EXERCISES", "list_exercises", "start", "check", "status", "format_report", "skeleton",
    "exercise_path", "ExerciseError", "DEFAULT_TIME_LIMIT", "REPORT_SCHEMA", "validate",
    "SchemaError",
]
