"""``minicnn bench`` / ``python -m minicnn.bench``: the benchmark harness's front door.

    minicnn bench --quick                    # a small subset, under a minute
    minicnn bench --json results.json --out charts/
    minicnn bench --native-blas              # the same, with OPENBLAS_CORETYPE unset
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys

__all__ = ["build_parser", "main", "run", "native_blas_env"]


def build_parser(parser=None):
    parser = parser or argparse.ArgumentParser(
        prog="minicnn bench", description="Time minicnn's ops and models against PyTorch.")
    parser.add_argument("--quick", action="store_true",
                        help="a small subset of ops, LeNet-5 and a short scaling sweep")
    parser.add_argument("--only", choices=["ops", "models", "conv-paths", "scaling", "memory",
                                           "startup", "distributed", "import-order"],
                        action="append",
                        help="run only these parts (repeatable; default: all)")
    parser.add_argument("--backends", default="numpy,numba,cuda",
                        help="minicnn backends to time, comma-separated (missing ones "
                             "are skipped)")
    parser.add_argument("--ops", metavar="PATTERNS",
                        help="only the op cases whose 'op network layer' name contains one of "
                             "these comma-separated substrings, e.g. 'conv2d ResNet-50'")
    parser.add_argument("--models", metavar="NAMES",
                        help="only these zoo models in the models part, comma-separated")
    parser.add_argument("--no-torch", action="store_true", help="leave PyTorch out")
    parser.add_argument("--threads", type=int, default=os.cpu_count(),
                        help="threads for BLAS, Numba and torch alike (default: all cores)")
    parser.add_argument("--repeat", type=int, default=None, help="timed runs per measurement")
    parser.add_argument("--warmup", type=int, default=None, help="untimed runs first")
    parser.add_argument("--json", metavar="PATH", help="write the results as JSON")
    parser.add_argument("--out", metavar="DIR", help="write PNG charts into DIR")
    parser.add_argument("--native-blas", action="store_true",
                        help="re-run with OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE unset, so "
                             "OpenBLAS picks the machine's own kernel")
    return parser


def _progress(message):
    print(f"  .. {message}", file=sys.stderr, flush=True)


def run(args) -> dict:
    """Run the requested parts; returns the JSON document."""
    from minicnn.bench import cases as case_table
    from minicnn.bench.environment import describe, limit_threads, sgemm_peak
    from minicnn.bench.models import MODELS, QUICK_MODELS, memory_check, run_models
    from minicnn.bench.ops import engines, run_ops
    from minicnn.bench.report import SCHEMA, targets
    from minicnn.bench.scaling import QUICK_SWEEPS, SWEEPS, run_scaling
    from minicnn.bench.startup import measure_startup
    from minicnn.runtime.malloc import retain_freed_memory

    default_parts = ["ops", "models", "conv-paths", "scaling"] + (
        [] if args.quick else ["memory", "startup"])
    parts = set(args.only or default_parts)
    warmup = args.warmup if args.warmup is not None else (1 if args.quick else 2)
    repeat = args.repeat if args.repeat is not None else (3 if args.quick else 5)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    engine_list = engines(backends, torch_devices=() if args.no_torch else None)
    doc = {"schema": SCHEMA, "command": " ".join(["minicnn", "bench", *sys.argv[1:]]),
           "ops": [], "models": [], "conv_paths": [], "scaling": {"points": [], "fits": []},
           "memory": [],
           "startup": None}
    with limit_threads(args.threads):
        doc["environment"] = describe(args.threads)
        # as minicnn's training commands do; the process's allocator serves torch too
        doc["environment"]["malloc_retains_freed_memory"] = retain_freed_memory()
        doc["sgemm_peak_gflops"] = sgemm_peak(512 if args.quick else 2048)
        if "ops" in parts:
            op_cases = case_table.quick_cases() if args.quick else case_table.all_cases()
            if args.ops:
                patterns = [p.strip() for p in args.ops.split(",") if p.strip()]
                op_cases = [c for c in op_cases
                            if any(p in f"{c.op} {c.name}" for p in patterns)]
                if not op_cases:
                    raise SystemExit(f"minicnn bench: --ops {args.ops!r} matches no case; "
                                     f"names look like 'conv2d ResNet-50 3x3 @56' (see "
                                     f"benchmarks/cases.py)")
            doc["ops"] = run_ops(op_cases, engine_list, warmup, repeat,
                                 doc["sgemm_peak_gflops"], _progress)
        if "models" in parts:
            specs = QUICK_MODELS if args.quick else MODELS
            if args.models:
                wanted = {name.strip() for name in args.models.split(",")}
                unknown = wanted - {spec.name for spec in MODELS}
                if unknown:
                    raise SystemExit(f"minicnn bench: unknown model(s) {sorted(unknown)}; "
                                     f"choose from {', '.join(s.name for s in MODELS)}")
                specs = [spec for spec in MODELS if spec.name in wanted]
            doc["models"] = run_models(specs, engine_list, 1, max(2, repeat - 2), _progress)
        if "conv-paths" in parts and ("minicnn", "numba") in engine_list:
            from minicnn.bench.conv_paths import (
                LAYERS,
                QUICK_LAYERS,
                run_conv_paths,
                winograd_error,
            )
            doc["conv_paths"] = run_conv_paths(QUICK_LAYERS if args.quick else LAYERS,
                                               2 if args.quick else repeat, _progress)
            if not args.quick:
                doc["winograd_error"] = winograd_error(progress=_progress)
        if "scaling" in parts:
            points, fits = run_scaling(engine_list, QUICK_SWEEPS if args.quick else SWEEPS,
                                       1, 3, _progress)
            doc["scaling"] = {"points": points, "fits": fits}
        if "memory" in parts:
            cpu = [b for f, b in engine_list if f == "minicnn" and b != "cuda"]
            if cpu:
                _progress(f"VGG-16 batch 32 training step, peak memory [{cpu[-1]}]")
                doc["memory"] = [memory_check(cpu[-1])]
        if "startup" in parts and ("minicnn", "numba") in engine_list:
            _progress("numba start-up, cold and cached")
            doc["startup"] = measure_startup()
    if "import-order" in parts:  # only when asked: it runs the benchmark in child processes
        from minicnn.bench.import_order import run_import_order
        doc["import_order"] = run_import_order(args.threads, repeat, progress=_progress)
    if "distributed" in parts:  # only when asked: it launches mpiexec jobs of its own
        from minicnn.bench.distributed import run as run_distributed
        doc["distributed"] = run_distributed(repeat, _progress)
    doc["targets"] = targets(doc["ops"], doc["models"], doc["memory"], doc["startup"],
                             import_order=doc.get("import_order"),
                             environment=doc["environment"])
    return doc


def _print_report(doc):
    from minicnn.bench.report import markdown_models, markdown_ops, markdown_targets
    env = doc["environment"]
    blas = "; ".join(f"{b.get('internal_api')} {b.get('version')} "
                     f"core={b.get('architecture')}" for b in env["blas"])
    print(f"# minicnn bench ({env['date']})\n")
    print(f"- machine: {env['cpu']}, {env['cores']} cores, {env['threads']} threads used")
    print(f"- BLAS: {blas}; env {env['blas_env'] or '{}'}")
    print(f"- numpy {env['numpy']}, numba {env['numba']}, torch {env['torch']}, "
          f"cupy {env['cupy']}")
    print(f"- glibc keeps freed memory (minicnn.runtime.malloc): "
          f"{'yes' if env.get('malloc_retains_freed_memory') else 'no'}")
    print(f"- measured sgemm peak: {doc['sgemm_peak_gflops']:.1f} GFLOP/s\n")
    if doc["ops"]:
        print("## Ops\n\n" + markdown_ops(doc["ops"]) + "\n")
    if doc["models"]:
        print("## Models\n\n" + markdown_models(doc["models"]) + "\n")
    if doc.get("conv_paths"):
        from minicnn.bench.conv_paths import markdown_conv_paths
        print("## numba conv2d: direct, im2col or Winograd (forward + backward)\n\n"
              + markdown_conv_paths(doc["conv_paths"]) + "\n")
    if doc.get("winograd_error"):
        from minicnn.bench.conv_paths import markdown_winograd_error
        print("## Winograd: numerical error (float32 against float64)\n\n"
              + markdown_winograd_error(doc["winograd_error"]) + "\n")
    if doc["scaling"]["fits"]:
        print("## Scaling (forward conv2d, time = a + b * FLOPs)\n")
        print("| sweep | engine | s per GFLOP | R^2 |\n| --- | --- | ---: | ---: |")
        for f in doc["scaling"]["fits"]:
            print(f"| {f['sweep']} | {f['framework']}/{f['backend']} | "
                  f"{f['seconds_per_gflop']:.4f} | {f['r2']:.3f} |")
        print()
    for m in doc.get("memory", []):
        print(f"## Memory\n\nVGG-16 training step, batch {m['batch']}, 224x224, "
              f"{m['backend']}: peak RSS {m['peak_rss_bytes'] / 2**30:.2f} GiB "
              f"(im2col workspace limit {m['workspace_bytes'] / 2**20:.0f} MiB), "
              f"{m['seconds']:.1f} s\n")
    if doc.get("startup"):
        print(f"## Start-up\n\nnumba backend, LeNet-5 step in a fresh process: first "
              f"{doc['startup']['first_s']:.2f} s, cached {doc['startup']['second_s']:.2f} s\n")
    if doc.get("import_order"):
        from minicnn.bench.import_order import markdown_import_order
        print("## Import order: torch imported before minicnn\n\n"
              + markdown_import_order(doc["import_order"]) + "\n")
    if doc["targets"]:
        print("## Targets\n\n" + markdown_targets(doc["targets"]) + "\n")


def native_blas_env(environ) -> dict:
    """``environ`` without the variables that force OpenBLAS's kernel choice."""
    return {k: v for k, v in environ.items()
            if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.native_blas:
        env = native_blas_env(os.environ)
        argv = [a for a in (sys.argv[1:] if argv is None else argv) if a != "--native-blas"]
        return subprocess.call([sys.executable, "-m", "minicnn.bench", *argv], env=env)
    from minicnn.bench.report import plot_all, write_json
    doc = run(args)
    _print_report(doc)
    if args.json:
        write_json(doc, args.json)
        print(f"JSON written to {args.json}")
    if args.out:
        for path in plot_all(doc, args.out):
            print(f"chart written to {path}")
    if doc.get("distributed"):
        from minicnn.bench.distributed import chart, markdown
        print(markdown(doc["distributed"]))
        if args.out:
            path = chart(doc["distributed"], os.path.join(args.out, "distributed.png"))
            print(f"chart written to {path}")
    return 0
