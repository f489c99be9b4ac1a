#!/usr/bin/env python3
"""The lab's Python classifier against transformers.js (Node, onnxruntime-node), side by side.

Same ONNX model (the test model, EfficientNet-Lite0), same photos, same intra-op thread
count, in one interleaved run (Python and JS alternate, so machine load hits both alike):

1. cold: a new process classifies one photo, from its start to the printed result
   (Python: ``classifier.py <file>``; JS: ``node worker.mjs --once <file>``); median and min;
2. warm whole classification: two long-lived workers driven over JSON lines
   (``benchmarks/classifier_worker.py``, ``benchmarks/transformersjs/worker.mjs``); each
   classifies a photo from its bytes in memory to the top-5 list; p50/p95;
3. model run alone on an already preprocessed input (onnxruntime session run); p50/p95;
4. agreement: top-1 label and probability per photo on both sides, and how far apart the
   two preprocessed inputs are.

    python benchmarks/bench_classifier_vs_transformersjs.py [--rounds 20] [--cold-runs 5]
        [--threads N] [--json FILE]

transformers.js is installed on first use with ``npm ci`` (lock file
``benchmarks/transformersjs/package-lock.json``) into ``.cache/bench/transformersjs``, and
reused while the lock file is unchanged. Needs ``node`` and ``npm``; exit 2 without them.
"""
from __future__ import annotations

import argparse
import base64
import fcntl
import hashlib
import importlib.resources
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CLASSIFIER_DIR = REPO / "containers" / "image-classifier"
JS_SOURCE = Path(__file__).resolve().parent / "transformersjs"
PY_WORKER = Path(__file__).resolve().parent / "classifier_worker.py"
CACHE = REPO / ".cache" / "bench" / "transformersjs"
JS_FILES = ("package.json", "package-lock.json")

# The project's photos (benchmarks/bench_classifier.py), then other kinds: greyscale PNG,
# colour JPEGs, and a large JPEG generated once (BIG_JPEG).
SKIMAGE_PHOTOS = ("coffee.png", "rocket.jpg", "motorcycle_left.png", "chelsea.png", "astronaut.png",
                  "camera.png", "hubble_deep_field.jpg", "retina.jpg")
BIG_JPEG = ("chelsea.png", (3000, 1996), 90)  # source, size, JPEG quality
COLD_PHOTO = "coffee.png"


class BenchError(Exception):
    """A failure to report in one line (exit 1)."""


# --- figures -----------------------------------------------------------------------------------

def percentile(values: list[float], q: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def default_threads() -> int:
    """The classifier's own default (CPUs this process may use), else the affinity mask."""
    sys.path.insert(0, str(CLASSIFIER_DIR))
    try:
        from model import available_cpus
        return available_cpus()
    except Exception:  # noqa: BLE001 - the classifier's code may have moved it
        return len(os.sched_getaffinity(0))
    finally:
        sys.path.remove(str(CLASSIFIER_DIR))


# --- inputs: model, photos, transformers.js --------------------------------------------------

def model_dir() -> Path:
    sys.path.insert(0, str(REPO / "scripts"))
    from build_test_model import ensure_model
    out = ensure_model()
    return Path(out[0] if isinstance(out, tuple) else out)


def photos() -> dict[str, Path]:
    data = importlib.resources.files("skimage") / "data"
    found = {name: Path(str(data / name)) for name in SKIMAGE_PHOTOS}
    source, (width, height), quality = BIG_JPEG
    name = f"{Path(source).stem}_{width}x{height}_q{quality}.jpg"
    target = CACHE / "photos" / name
    if not target.is_file():  # deterministic for a given Pillow: fixed source, filter, quality
        from PIL import Image
        target.parent.mkdir(parents=True, exist_ok=True)
        with Image.open(found[source]) as image:
            big = image.convert("RGB").resize((width, height), Image.Resampling.BICUBIC)
        fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".jpg")
        os.close(fd)
        big.save(tmp, "JPEG", quality=quality, optimize=False, progressive=False)
        os.replace(tmp, target)
    found[name] = target
    return found


def install_transformersjs(quiet: bool = False) -> Path:
    """``npm ci`` of benchmarks/transformersjs into the cache, unless its lock is unchanged."""
    CACHE.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    for name in JS_FILES:
        digest.update((JS_SOURCE / name).read_bytes())
    stamp = CACHE / "installed.sha256"
    with open(CACHE / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (stamp.is_file() and stamp.read_text() == digest.hexdigest()
                and (CACHE / "node_modules" / "@huggingface" / "transformers").is_dir()):
            stamp.unlink(missing_ok=True)
            for name in JS_FILES:
                shutil.copyfile(JS_SOURCE / name, CACHE / name)
            if not quiet:
                print(f"installing transformers.js (npm ci) into {CACHE} ...", flush=True)
            # onnxruntime-node's post-install would download binaries; its CPU ones ship in the package.
            env = {**os.environ, "ONNXRUNTIME_NODE_INSTALL": "skip"}
            done = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=CACHE,
                                  env=env, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise BenchError(f"npm ci failed in {CACHE}:\n{done.stdout}{done.stderr}")
            stamp.write_text(digest.hexdigest())
        shutil.copyfile(JS_SOURCE / "worker.mjs", CACHE / "worker.mjs")  # resolves the cache's node_modules
    return CACHE / "worker.mjs"


# --- processes -------------------------------------------------------------------------------

def pinning(threads: int, available: int):
    """With fewer threads than CPUs, cold processes get as many CPUs (classifier.py has no thread option)."""
    if threads >= available:
        return None
    cpus = sorted(os.sched_getaffinity(0))[:threads]
    return lambda: os.sched_setaffinity(0, cpus)


def cold_run(cmd: list[str], env: dict, preexec) -> tuple[float, float]:
    """Seconds from start to the top-1 line on stdout, and to the exit."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=preexec)  # noqa: PLW1509 - no threads here
    printed = None
    for line in proc.stdout:
        if printed is None and line.startswith("1. "):
            printed = time.perf_counter() - start
    stderr = proc.stderr.read()
    code = proc.wait()
    exited = time.perf_counter() - start
    if code != 0 or printed is None:
        raise BenchError(f"cold run failed (exit {code}): {' '.join(cmd)}\n{stderr.strip()[-2000:]}")
    return printed, exited


class Worker:
    """A long-lived worker speaking the JSON lines protocol of classifier_worker.py / worker.mjs."""

    def __init__(self, side: str, cmd: list[str], env: dict) -> None:
        self.side = side
        self.log = open(CACHE / f"worker-{side}.stderr", "w+")  # noqa: SIM115 - closed by close()
        start = time.perf_counter()
        self.proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.log, text=True, bufsize=1)
        self.ready = self._read()
        self.ready["start_s"] = time.perf_counter() - start

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            self.log.seek(0)
            raise BenchError(f"{self.side} worker died: {self.log.read().strip()[-2000:]}")
        answer = json.loads(line)
        if not answer.get("ok"):
            raise BenchError(f"{self.side} worker: {answer.get('error')}")
        return answer

    def ask(self, op: str, **fields) -> dict:
        self.proc.stdin.write(json.dumps({"op": op, **fields}) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write('{"op": "quit"}\n')
                self.proc.stdin.close()
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def pixel_level(model: Path) -> list[float]:
    """Per channel, the input change of one 8-bit pixel level ((v * rescale - mean) / std)."""
    try:
        cfg = json.loads((model / "preprocessor_config.json").read_text())
        std = cfg.get("image_std", [1.0, 1.0, 1.0])
        std = [float(std)] * 3 if isinstance(std, (int, float)) else [float(v) for v in std]
        return [float(cfg.get("rescale_factor", 1 / 255)) / v for v in std]
    except (OSError, ValueError, TypeError):
        return [1.0, 1.0, 1.0]


def input_diff(py: Worker, js: Worker, name: str, level: list[float]) -> dict:
    """How far apart the two sides' preprocessed inputs are, in normalised units and in pixel levels."""
    import numpy as np
    arrays = []
    for worker in (py, js):
        answer = worker.ask("input", name=name)
        arrays.append(np.frombuffer(base64.b64decode(answer["data_b64"]), dtype="<f4").reshape(answer["shape"]))
    a, b = arrays
    if a.shape != b.shape:
        return {"shape_py": list(a.shape), "shape_js": list(b.shape)}
    diff = np.abs(a.astype(np.float64) - b)
    levels = diff / np.asarray(level).reshape(1, -1, 1, 1) if diff.ndim == 4 and diff.shape[1] == 3 else diff
    return {"max_abs": float(diff.max()), "mean_abs": float(diff.mean()),
            "max_levels": float(levels.max()), "mean_levels": float(levels.mean()),
            "share_over_2_levels": float((levels > 2).mean())}


# --- the run ---------------------------------------------------------------------------------

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20, help="warm passes over the photos (default 20)")
    parser.add_argument("--cold-runs", type=int, default=5, help="cold starts per side (default 5)")
    parser.add_argument("--threads", type=int, default=None,
                        help="onnxruntime intra-op threads on both sides (default: the CPUs this process may use)")
    parser.add_argument("--json", type=Path, default=None, metavar="FILE", help="write all figures to FILE")
    parser.add_argument("--classifier-dir", type=Path, default=CLASSIFIER_DIR, metavar="DIR",
                        help="the Python classifier to measure (default: containers/image-classifier; another "
                             "version, e.g. `git archive <commit> containers/image-classifier`, for before/after)")
    args = parser.parse_args()
    if args.rounds < 1 or args.cold_runs < 0:
        parser.error("--rounds must be >= 1 and --cold-runs >= 0")

    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        print(f"bench_classifier_vs_transformersjs: {' and '.join(missing)} not found on PATH"
              " (Node.js 18+ with npm is needed for the transformers.js side)", file=sys.stderr)
        return 2
    try:
        return run(args)
    except BenchError as exc:
        print(f"bench_classifier_vs_transformersjs: {exc}", file=sys.stderr)
        return 1


def run(args: argparse.Namespace) -> int:
    load_start = loadavg()
    available = default_threads()
    threads = args.threads or available
    model = model_dir()
    worker_mjs = install_transformersjs()
    files = photos()
    names = list(files)
    env = {**os.environ, "MODEL_DIR": str(model), "ORT_DISABLE_TELEMETRY": "1"}
    classifier_dir = args.classifier_dir.resolve()
    if classifier_dir != CLASSIFIER_DIR:
        print(f"Python classifier measured: {classifier_dir}")
    py_cmd = [sys.executable, str(PY_WORKER), "--model-dir", str(model), "--threads", str(threads),
              "--classifier-dir", str(classifier_dir)]
    js_cmd = ["node", str(worker_mjs), "--model-dir", str(model), "--threads", str(threads)]

    # 1. cold starts, alternating which side goes first
    cold = {"python": [], "js": []}
    cold_exit = {"python": [], "js": []}
    cold_cmd = {
        "python": [sys.executable, str(classifier_dir / "classifier.py"), str(files[COLD_PHOTO])],
        "js": js_cmd + ["--once", str(files[COLD_PHOTO])],
    }
    preexec = pinning(threads, available)
    if threads > available and args.cold_runs:
        print(f"note: cold Python (classifier.py) uses its own default of {available} thread(s)")
    for i in range(args.cold_runs):
        for side in (("python", "js") if i % 2 == 0 else ("js", "python")):
            printed, exited = cold_run(cold_cmd[side], env, preexec)
            cold[side].append(printed)
            cold_exit[side].append(exited)

    # 2-3. warm workers, alternating sides per round
    workers: dict[str, Worker] = {}
    try:
        workers["python"] = Worker("python", py_cmd + [], env)
        workers["js"] = Worker("js", js_cmd + ["--serve"], env)
        for worker in workers.values():
            worker.ask("load", files={name: str(path) for name, path in files.items()})
            worker.ask("round", names=names)  # warm-up, not counted
        samples = {side: {name: [] for name in names} for side in workers}
        for r in range(args.rounds):
            order = names[r % len(names):] + names[:r % len(names)]  # no photo always first after a switch
            for side in (("python", "js") if r % 2 == 0 else ("js", "python")):
                for name, result in workers[side].ask("round", names=order)["results"].items():
                    samples[side][name].append(result)
        level = pixel_level(model)
        diffs = {name: input_diff(workers["python"], workers["js"], name, level) for name in names}
    finally:
        for worker in workers.values():
            worker.close()
    load_end = loadavg()

    report = summarise(args, threads, available, files, cold, cold_exit, workers, samples, diffs,
                       load_start, load_end)
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        print(f"figures written to {args.json}")
    return 0


def stats(values: list[float]) -> dict:
    return {"p50": percentile(values, 50), "p95": percentile(values, 95), "min": min(values),
            "max": max(values), "n": len(values)}


def summarise(args, threads, available, files, cold, cold_exit, workers, samples, diffs,
              load_start, load_end) -> dict:
    from PIL import Image
    sides = {}
    for side, per_photo in samples.items():
        flat = [s for results in per_photo.values() for s in results]
        side_report = {
            "worker_start_s": workers[side].ready["start_s"],
            "versions": workers[side].ready["versions"],
            "threads": workers[side].ready["threads"],
            "warm_whole_ms": stats([s["whole_ms"] for s in flat]),
            "model_run_ms": stats([s["run_ms"] for s in flat]),
            "per_photo": {name: {"whole_p50_ms": percentile([s["whole_ms"] for s in results], 50),
                                 "run_p50_ms": percentile([s["run_ms"] for s in results], 50)}
                          for name, results in per_photo.items()},
        }
        if "model_ms" in flat[0]:
            side_report["model_call_ms"] = stats([s["model_ms"] for s in flat])
        if cold[side]:
            side_report["cold_s"] = {"median": statistics.median(cold[side]), "min": min(cold[side]),
                                     "runs": cold[side], "exit_median": statistics.median(cold_exit[side])}
        sides[side] = side_report

    agreement = {}
    for name in files:
        py, js = samples["python"][name], samples["js"][name]
        with Image.open(files[name]) as image:
            size, mode = f"{image.width}x{image.height}", image.mode
        agreement[name] = {
            "size": size, "mode": mode, "format": files[name].suffix.lstrip(".").upper(),
            "python_top1": py[0]["top5"][0], "js_top1": js[0]["top5"][0],
            "same_top1": all(p["top5"][0][0] == j["top5"][0][0] for p, j in zip(py, js)),
            "max_abs_diff_top1_prob": max(abs(p["top5"][0][1] - j["top5"][0][1]) for p, j in zip(py, js)),
            "python_top5": py[0]["top5"], "js_top5": js[0]["top5"],
            "python_top1_rank_js": next((i + 1 for i, (label, _) in enumerate(js[0]["top5"])
                                         if label == py[0]["top5"][0][0]), None),
            "input_diff": diffs[name],
        }

    def ratio(a, b):
        return a / b if b else None

    py, js = sides["python"], sides["js"]
    ratios = {
        "warm_p50": ratio(js["warm_whole_ms"]["p50"], py["warm_whole_ms"]["p50"]),
        "warm_p95": ratio(js["warm_whole_ms"]["p95"], py["warm_whole_ms"]["p95"]),
        "model_p50": ratio(js["model_run_ms"]["p50"], py["model_run_ms"]["p50"]),
        "model_p95": ratio(js["model_run_ms"]["p95"], py["model_run_ms"]["p95"]),
    }
    if "cold_s" in py:
        ratios["cold_median"] = ratio(js["cold_s"]["median"], py["cold_s"]["median"])
    for side in (py, js):
        side["overhead_whole_over_model_p50"] = side["warm_whole_ms"]["p50"] / side["model_run_ms"]["p50"]
        side["overhead_whole_over_model_p95"] = side["warm_whole_ms"]["p95"] / side["model_run_ms"]["p95"]
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S"), "cpu_count": os.cpu_count(), "cpus_usable": available,
        "threads": threads, "rounds": args.rounds, "cold_runs": args.cold_runs, "cold_photo": COLD_PHOTO,
        "photos": list(files), "loadavg_start": load_start, "loadavg_end": load_end,
        "sides": sides, "ratios_js_over_python": ratios, "agreement": agreement,
    }


def print_report(r: dict) -> None:
    py, js = r["sides"]["python"], r["sides"]["js"]
    rt = r["ratios_js_over_python"]
    print(f"\nPython classifier vs transformers.js {js['versions']['transformers_js']}"
          f" (onnxruntime-node {js['versions']['onnxruntime_node']}, sharp {js['versions']['sharp']},"
          f" node {js['versions']['node']});"
          f" Python onnxruntime {py['versions']['onnxruntime']}, Pillow {py['versions']['pillow']}")
    print(f"CPUs {r['cpu_count']} (usable {r['cpus_usable']}), intra-op threads {r['threads']} on both sides"
          f" (python {py['threads']}, js {js['threads']}); load average start {r['loadavg_start']},"
          f" end {r['loadavg_end']}")
    print(f"{len(r['photos'])} photos x {r['rounds']} rounds warm; {r['cold_runs']} cold starts per side"
          f" on {r['cold_photo']}\n")

    def ms(d, key):
        return f"{d[key]:.1f} ms"

    def fmt_ratio(value):
        return "-" if value is None else f"{value:.2f}"

    rows = []
    if "cold_s" in py:
        rows.append(("cold: start to result, median (min)",
                     f"{py['cold_s']['median']:.2f} s ({py['cold_s']['min']:.2f})",
                     f"{js['cold_s']['median']:.2f} s ({js['cold_s']['min']:.2f})", fmt_ratio(rt["cold_median"])))
        rows.append(("cold: start to exit, median", f"{py['cold_s']['exit_median']:.2f} s",
                     f"{js['cold_s']['exit_median']:.2f} s",
                     fmt_ratio(js['cold_s']['exit_median'] / py['cold_s']['exit_median'])))
    rows += [
        ("warm worker start (model loaded)", f"{py['worker_start_s']:.2f} s", f"{js['worker_start_s']:.2f} s",
         fmt_ratio(js["worker_start_s"] / py["worker_start_s"])),
        ("warm whole classification p50", ms(py["warm_whole_ms"], "p50"), ms(js["warm_whole_ms"], "p50"),
         fmt_ratio(rt["warm_p50"])),
        ("warm whole classification p95", ms(py["warm_whole_ms"], "p95"), ms(js["warm_whole_ms"], "p95"),
         fmt_ratio(rt["warm_p95"])),
        ("model run alone (session.run) p50", ms(py["model_run_ms"], "p50"), ms(js["model_run_ms"], "p50"),
         fmt_ratio(rt["model_p50"])),
        ("model run alone (session.run) p95", ms(py["model_run_ms"], "p95"), ms(js["model_run_ms"], "p95"),
         fmt_ratio(rt["model_p95"])),
    ]
    if "model_call_ms" in js:
        rows.append(("JS model({pixel_values}) p50 / p95", "-",
                     f"{js['model_call_ms']['p50']:.1f} / {js['model_call_ms']['p95']:.1f} ms", "-"))
    rows += [
        ("overhead whole / model p50", f"{py['overhead_whole_over_model_p50']:.2f}",
         f"{js['overhead_whole_over_model_p50']:.2f}", "-"),
        ("overhead whole / model p95", f"{py['overhead_whole_over_model_p95']:.2f}",
         f"{js['overhead_whole_over_model_p95']:.2f}", "-"),
    ]
    print_table(("", "Python", "transformers.js", "JS/Python"), rows)

    print("\nper photo, warm p50 (whole / model run):")
    rows = []
    for name in r["photos"]:
        a = r["agreement"][name]
        p, j = py["per_photo"][name], js["per_photo"][name]
        rows.append((name, f"{a['size']} {a['mode']}", f"{p['whole_p50_ms']:.1f} / {p['run_p50_ms']:.1f}",
                     f"{j['whole_p50_ms']:.1f} / {j['run_p50_ms']:.1f}",
                     f"{j['whole_p50_ms'] / p['whole_p50_ms']:.2f}"))
    print_table(("photo", "size", "Python ms", "transformers.js ms", "JS/Py whole"), rows)

    print("\nagreement (top-1 label and probability; input: |difference| of the preprocessed"
          " pixel_values in 8-bit pixel levels, mean / max):")
    rows, notes = [], []
    for name in r["photos"]:
        a = r["agreement"][name]
        diff = a["input_diff"]
        rows.append((name, f"{a['python_top1'][0]} {a['python_top1'][1]:.4f}",
                     f"{a['js_top1'][0]} {a['js_top1'][1]:.4f}", "yes" if a["same_top1"] else "NO",
                     f"{a['max_abs_diff_top1_prob']:.4f}",
                     f"{diff['mean_levels']:.2f} / {diff['max_levels']:.0f}" if "max_levels" in diff
                     else "shapes differ"))
        if not a["same_top1"]:
            rank = a["python_top1_rank_js"]
            notes.append(f"  {name}: Python's top-1 {a['python_top1'][0]!r} is "
                         + (f"#{rank} on the JS side ({a['js_top5'][rank - 1][1]:.4f})" if rank
                            else "not in the JS top 5")
                         + f"; Python's #2 is {a['python_top5'][1][0]!r} {a['python_top5'][1][1]:.4f}")
    print_table(("photo", "Python top-1", "transformers.js top-1", "same", "|dp top-1|", "input mean / max"),
                rows)
    for note in notes:
        print(note)


def print_table(header: tuple, rows: list[tuple]) -> None:
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(cell).ljust(width) if i == 0 else str(cell).rjust(width)
                        for i, (cell, width) in enumerate(zip(row, widths))).rstrip())


if __name__ == "__main__":
    sys.exit(main())
