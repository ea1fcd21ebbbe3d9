"""``minicnn exercise``: list, start, check and plug the coursework exercises.

    minicnn exercise list [--dir DIR]
    minicnn exercise start NAME [--dir DIR] [--force]
    minicnn exercise check NAME [--dir DIR] [--json] [--time-limit SECONDS]
    minicnn exercise plug NAME [--dir DIR] [--limit N] [--no-timing]

``check`` exits 0 only when every test passes; ``--json`` prints the report
described by ``minicnn.exercises.REPORT_SCHEMA``.
"""
from __future__ import annotations

import argparse
import json

from minicnn.exercises import (
    DEFAULT_TIME_LIMIT,
    EXERCISES,
    check,
    format_report,
    list_exercises,
    start,
)
from minicnn.exercises.plug import PLUGGABLE, format_plug, plug

__all__ = ["add_parser", "cmd_exercise"]


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") \
            from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive int, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive int, got {text!r}")
    return value


def cmd_exercise(args) -> int:
    if args.action == "list":
        rows = list_exercises(args.dir, args.time_limit)
        width = max(len(name) for name, _, _ in rows)
        for name, description, state in rows:
            plug_mark = " [plug]" if name in PLUGGABLE else ""
            print(f"{name:<{width}}  {state:<11}  {description}{plug_mark}")
        return 0
    if args.action == "start":
        path = start(args.name, args.dir, args.force)
        print(f"wrote {path}: fill in the TODOs, then run `minicnn exercise check "
              f"{args.name}" + (f" --dir {args.dir}`" if args.dir != "." else "`"))
        return 0
    if args.action == "check":
        report = check(args.name, args.dir, args.time_limit)
        print(json.dumps(report, indent=2) if args.json else format_report(report))
        return 0 if report["passed"] else 1
    result = plug(args.name, args.dir, limit=args.limit, seed=args.seed,
                  progress=args.progress, timing=not args.no_timing)
    print(format_plug(result))
    return 0 if result["within"] else 1


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``exercise`` and its actions on the CLI's subparsers."""
    p = subparsers.add_parser(
        "exercise", help="coursework: start, check and plug in exercises",
        description="Coursework exercises: write layers from skeletons, have them graded "
        "against the engine, and train LeNet-5 with your own kernels.")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True,
                               parser_class=type(p))
    names = list(EXERCISES)

    def common(q):
        q.add_argument("--dir", default=".", metavar="DIR",
                       help="where the exercise files live (default: the current directory)")

    q = actions.add_parser("list", help="every exercise and its status in DIR")
    common(q)
    q.add_argument("--time-limit", type=_positive_float, default=DEFAULT_TIME_LIMIT,
                   metavar="SECONDS", help=argparse.SUPPRESS)
    q = actions.add_parser("start", help="write DIR/NAME.py, the skeleton")
    q.add_argument("name", metavar="NAME", choices=names, help=", ".join(names))
    common(q)
    q.add_argument("--force", action="store_true", help="replace an existing file")
    q = actions.add_parser("check", help="grade DIR/NAME.py (exit 0 only if all tests pass)")
    q.add_argument("name", metavar="NAME", choices=names, help=", ".join(names))
    common(q)
    q.add_argument("--json", action="store_true",
                   help="print the machine-readable report (for instructors)")
    q.add_argument("--time-limit", type=_positive_float, default=DEFAULT_TIME_LIMIT,
                   metavar="SECONDS", help=f"per call of your functions (default "
                   f"{DEFAULT_TIME_LIMIT:g})")
    q = actions.add_parser("plug", help="train LeNet-5 on digits with your kernels, and "
                           "time them")
    q.add_argument("name", metavar="NAME", choices=list(PLUGGABLE),
                   help=", ".join(PLUGGABLE))
    common(q)
    q.add_argument("--limit", type=_positive_int, metavar="N",
                   help="train on the first N digits images only (default: all 1438)")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--no-timing", action="store_true", help="skip the timing table")
    g = q.add_mutually_exclusive_group()
    g.add_argument("--progress", dest="progress", action="store_true", default=None,
                   help="always show progress bars (default: only on a terminal)")
    g.add_argument("--no-progress", dest="progress", action="store_false")
    p.set_defaults(func=cmd_exercise)
    return p
