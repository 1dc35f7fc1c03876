#!/usr/bin/env python3
"""Training benchmark: tinyc against a PyTorch peer, side by side.

For each task and seed, runs `tinyc train ... --json` and the PyTorch peer
(bench/peers/torch_peer.py on Debian's /usr/bin/python3 + OpenBLAS, configured as
../shared/reference/peers.md describes) alternately, so that both see the same machine
state. Prints one JSON line per run and one summary JSON line per task on stdout
(progress on stderr) and rewrites the training section of BENCHMARKS.md (between
`<!-- training:begin -->` and `<!-- training:end -->`; the rest of the file is kept).

    bench/run_bench.py --tinyc build/tinyc                 # all tasks, seeds 0,1,2, 2 threads
    bench/run_bench.py --tinyc build/tinyc --quick         # smoke test: 1 seed, small tasks

Pure standard library. Exit status: 0 all runs succeeded; 1 usage error; 2 some run failed;
3 (with --check) some target was missed.
"""

import argparse
import csv
import datetime
import json
import math
import os
import resource
import shlex
import signal
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from training_report import (DEFAULT_TASKS, FOREIGN_LIMIT, QUICK_TASKS, TASKS,  # noqa: E402
                             render, summarize, write_markdown)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEER_SCRIPT = os.path.join(REPO, "bench", "peers", "torch_peer.py")
OPENBLAS_DIR = "/usr/lib/x86_64-linux-gnu/openblas-openmp"
DEFAULT_FASHION = "/usr/share/datasets/fashion-mnist"

# fp32 peak of the reference machine (2 vCPU Xeon family 6 model 207, AVX-512, two FMA
# ports) as measured in ../shared/reference/peers.md.
PEAK_GFLOPS = {1: 175.0, 2: 340.0}
PEAK_SOURCE = ("shared/reference/peers.md, measured on a 2 vCPU Xeon (family 6, model 207, "
               "AVX-512, two FMA ports)")
PEAK_CPU = ("6", "207")  # cpu family, model of the machine the peak was measured on


def log(msg):
    print("run_bench: " + msg, file=sys.stderr, flush=True)


class Parser(argparse.ArgumentParser):
    def error(self, message):  # usage errors exit 1, as tinyc's do
        self.print_usage(sys.stderr)
        self.exit(1, "%s: error: %s\n" % (self.prog, message))


def parse_args(argv):
    p = Parser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tinyc", required=True, help="path to the tinyc binary")
    p.add_argument("--tasks", help="comma-separated, from: " + ",".join(TASKS) +
                   " (default %s; --quick: %s)" % (",".join(DEFAULT_TASKS),
                                                    ",".join(QUICK_TASKS)))
    p.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default 0,1,2)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-peer", action="store_true", help="run tinyc only")
    p.add_argument("--quick", action="store_true",
                   help="smoke test: first seed only, small tasks; BENCHMARKS.md is only "
                        "written when --out is given")
    p.add_argument("--shared", default=os.path.join(os.path.dirname(REPO), "shared"),
                   help="the shared/ directory (default: <repo>/../shared)")
    p.add_argument("--models", default=os.path.join(REPO, "models"),
                   help="directory of the task specs (default <repo>/models)")
    p.add_argument("--fashion", default=DEFAULT_FASHION,
                   help="Fashion-MNIST IDX directory (default %s)" % DEFAULT_FASHION)
    p.add_argument("--peer-python", default="/usr/bin/python3",
                   help="interpreter with Debian's python3-torch (default /usr/bin/python3)")
    p.add_argument("--out", help="markdown file to update (default <repo>/BENCHMARKS.md)")
    p.add_argument("--no-write", action="store_true", help="do not touch BENCHMARKS.md")
    p.add_argument("--peak-gflops", type=float,
                   help="fp32 peak of this machine at --threads (default: peers.md figure)")
    p.add_argument("--timeout", type=float, default=3600, help="seconds per run")
    p.add_argument("--check", action="store_true", help="exit 3 if a target is missed")
    p.add_argument("--quiet-wait", type=float, default=120, metavar="SECONDS",
                   help="before each run, wait up to this long for other processes to leave "
                        "the CPUs idle (default 120; 0 = do not wait)")
    p.add_argument("--retries", type=int, default=2,
                   help="re-run a run that other processes disturbed, up to this many times "
                        "(default 2)")
    a = p.parse_args(argv)
    try:
        a.seeds = [int(s) for s in a.seeds.split(",") if s.strip()]
    except ValueError:
        p.error("--seeds: comma-separated integers expected")
    if not a.seeds:
        p.error("--seeds: at least one seed")
    if a.threads < 1:
        p.error("--threads: must be >= 1")
    if a.tasks:
        a.tasks = [t.strip() for t in a.tasks.split(",") if t.strip()]
        unknown = [t for t in a.tasks if t not in TASKS]
        if unknown:
            p.error("--tasks: unknown %s (known: %s)" % (",".join(unknown), ",".join(TASKS)))
    else:
        a.tasks = QUICK_TASKS if a.quick else DEFAULT_TASKS
    if a.quick:
        a.seeds = a.seeds[:1]
    if a.out is None and a.quick:
        a.no_write = True
    a.out = a.out or os.path.join(REPO, "BENCHMARKS.md")
    return a


# ---------------------------------------------------------------- machine

def machine_info():
    info = {"cpu": "unknown", "family": "", "model": "", "nproc": os.cpu_count()}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key, value = key.strip(), value.strip()
                if key == "model name" and info["cpu"] == "unknown":
                    info["cpu"] = value
                elif key == "cpu family" and not info["family"]:
                    info["family"] = value
                elif key == "model" and not info["model"]:
                    info["model"] = value
    except OSError:
        pass
    try:
        info["nproc"] = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        pass
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    info["mem_gb"] = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return info


def peak_for(args, machine):
    """(GFLOP/s, source text, caveat or None)"""
    if args.peak_gflops:
        return args.peak_gflops, "--peak-gflops given on the command line", None
    peak = PEAK_GFLOPS.get(args.threads)
    if peak is None:
        return None, "no reference figure for %d threads" % args.threads, None
    caveat = None
    if (machine["family"], machine["model"]) != PEAK_CPU:
        caveat = ("this machine (%s, family %s, model %s) is not the CPU the peak was measured "
                  "on; its own peak may differ (pass --peak-gflops)"
                  % (machine["cpu"], machine["family"], machine["model"]))
    return peak, PEAK_SOURCE, caveat


def cpu_busy_seconds():
    """CPU seconds all processes (and the hypervisor: steal) used so far, from /proc/stat."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
    except OSError:
        return None
    # cpu user nice system idle iowait irq softirq steal ...
    ticks = [int(v) for v in fields[1:9]]
    busy = ticks[0] + ticks[1] + ticks[2] + ticks[5] + ticks[6] + ticks[7]
    return busy / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


class ForeignLoad:
    """CPU time used by processes other than our children (and steal) during a run."""

    def __enter__(self):
        self.busy0, self.child0 = cpu_busy_seconds(), children_cpu_seconds()
        self.wall0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.wall0
        busy1 = cpu_busy_seconds()
        if self.busy0 is None or busy1 is None:
            self.share = None
            return False
        foreign = (busy1 - self.busy0) - (children_cpu_seconds() - self.child0)
        ncpu = os.cpu_count() or 1
        # clock ticks are 10 ms: clamp what rounding adds on short runs
        self.share = (min(1.0, max(0.0, foreign) / (self.wall * ncpu)) if self.wall > 0
                      else None)
        return False


def wait_quiet(max_wait, window=2.0):
    """Wait until other processes use < FOREIGN_LIMIT of the CPUs over `window` seconds.

    A 2-thread OpenMP run sharing its cores is not slowed a little but many times over
    (PyTorch's fashion_mlp went from 6 s to 566 s next to a parallel compile)."""
    t0 = time.perf_counter()
    ncpu = os.cpu_count() or 1
    said = False
    while True:
        b0 = cpu_busy_seconds()
        if b0 is None:
            return True
        time.sleep(window)
        share = (cpu_busy_seconds() - b0) / (window * ncpu)
        if share < FOREIGN_LIMIT:
            return True
        if time.perf_counter() - t0 > max_wait:
            log("machine still busy (%.0f %% of the CPUs) after %.0f s: running anyway"
                % (100 * share, max_wait))
            return False
        if not said:
            log("waiting for a quiet machine (others use %.0f %% of the CPUs)" % (100 * share))
            said = True


def run_quiet(cmd, env=None, timeout=60):
    try:
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
        return r.returncode, r.stdout, r.stderr
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, "", str(e)


# ---------------------------------------------------------------- runs

def parse_json_stdout(text):
    """The one JSON object a program printed (whole stdout, else its last JSON line)."""
    text = text.strip()
    try:
        obj = json.loads(text)
        if isinstance(obj, dict):
            return obj
    except ValueError:
        pass
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                obj = json.loads(line)
                if isinstance(obj, dict):
                    return obj
            except ValueError:
                continue
    return None


def dig(obj, *keys):
    for k in keys:
        if not isinstance(obj, dict) or k not in obj:
            return None
        obj = obj[k]
    return obj


def number(x):
    return x if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) \
        else None


def data_path(task, args):
    kind = TASKS[task]["data"]
    if kind == "fashion":
        return args.fashion
    return os.path.join(args.shared, "data", "tasks", kind)


def read_linear_x(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    ix = rows[0].index("x")
    return [float(r[ix]) for r in rows[1:]]


def fit_line(xs, ys):
    """Least-squares w, b of points that lie on the model's line."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    w = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    return w, my - w * mx


def linear_wb(args, model_path, data):
    """w and b of a trained linear model, read back through `tinyc predict` (optional)."""
    rc, out, _ = run_quiet([args.tinyc, "predict", model_path, "--data", data, "--json"],
                           timeout=120)
    obj = parse_json_stdout(out) if rc == 0 else None
    outputs = dig(obj, "outputs")
    try:
        xs = read_linear_x(data)
        ys = [float(o[0]) if isinstance(o, list) else float(o) for o in outputs]
    except (OSError, ValueError, TypeError, IndexError):
        return None, None
    if len(ys) != len(xs):
        return None, None
    return fit_line(xs, ys)


def run_tinyc(task, seed, args, tmp):
    spec = TASKS[task]
    data = data_path(task, args)
    model_path = os.path.join(tmp, "%s_s%d.tinyc" % (task, seed))
    cmd = [args.tinyc, "train", os.path.join(args.models, spec["spec"]), "--data", data,
           "-o", model_path, "--seed", str(seed), "--threads", str(args.threads), "--json"]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    rec = {"side": "tinyc", "cmd": shlex.join(cmd)}
    rc, out, err = run_quiet(cmd, env=env, timeout=args.timeout)
    obj = parse_json_stdout(out)
    if rc != 0 or obj is None:
        rec.update(ok=False, rc=rc, error=(err.strip().splitlines() or ["no JSON on stdout"])[-1])
        return rec
    rec.update(ok=True, train_seconds=number(obj.get("train_seconds")),
               samples_per_second=number(obj.get("samples_per_second")),
               epochs=obj.get("epochs_run"), train_rows=obj.get("train_rows"),
               threads_used=obj.get("threads"), metrics=obj.get("metrics"))
    rec["quality"] = number(dig(obj, "metrics", spec["split"], spec["metric"]))
    if task == "linear":
        rec["mse"] = rec["quality"]
        rec["w"], rec["b"] = linear_wb(args, model_path, data)
        rec["quality"] = rec["w"]
    try:
        os.remove(model_path)
    except OSError:
        pass
    return rec


def peer_env(args):
    env = dict(os.environ)
    env["LD_LIBRARY_PATH"] = OPENBLAS_DIR + (
        ":" + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH") else "")
    env["OPENBLAS_CORETYPE"] = "SkylakeX"
    env["OMP_NUM_THREADS"] = str(args.threads)
    return env


def peer_available(args):
    if not os.path.isdir(OPENBLAS_DIR):
        log("warning: %s missing (apt-get install libopenblas0-openmp): the peer would run on "
            "the reference BLAS, which peers.md calls unfair" % OPENBLAS_DIR)
    rc, _, err = run_quiet([args.peer_python, "-c", "import torch"], env=peer_env(args))
    if rc != 0:
        log("%s cannot import torch (%s); skipping the PyTorch peer, tinyc numbers only"
            % (args.peer_python, (err.strip().splitlines() or ["?"])[-1]))
        return False
    return True


def run_peer(task, seed, args):
    spec = TASKS[task]
    cmd = [args.peer_python, PEER_SCRIPT, task, "--seed", str(seed), "--threads",
           str(args.threads), "--shared", args.shared, "--fashion", args.fashion]
    rec = {"side": "pytorch", "cmd": shlex.join(cmd)}
    rc, out, err = run_quiet(cmd, env=peer_env(args), timeout=args.timeout)
    obj = parse_json_stdout(out)
    if rc != 0 or obj is None:
        rec.update(ok=False, rc=rc, error=(err.strip().splitlines() or ["no JSON on stdout"])[-1])
        return rec
    rec.update(ok=True, train_seconds=number(obj.get("train_seconds")),
               samples_per_second=number(obj.get("samples_per_second")),
               epochs=obj.get("epochs"), train_rows=obj.get("train_rows"),
               metrics=obj.get("metrics"),
               torch_version=obj.get("torch_version"), blas=obj.get("blas"),
               flop_per_sample=obj.get("flop_per_sample"))
    rec["quality"] = number(dig(obj, "metrics", spec["split"], spec["metric"]))
    if task == "linear":
        rec["mse"] = rec["quality"]
        rec["w"], rec["b"] = number(obj.get("w")), number(obj.get("b"))
        rec["quality"] = rec["w"]
    return rec


def command_line():
    argv0 = os.path.abspath(sys.argv[0])
    cwd = os.getcwd()
    shown = os.path.relpath(argv0, cwd) if argv0.startswith(cwd + os.sep) else sys.argv[0]
    cmd = shlex.join([shown] + sys.argv[1:])
    if os.path.realpath(cwd) != os.path.realpath(REPO):
        cmd = "cd %s && %s" % (shlex.quote(cwd), cmd)
    return cmd


# ---------------------------------------------------------------- main

def check_inputs(args):
    problems = []
    if not (os.path.isfile(args.tinyc) and os.access(args.tinyc, os.X_OK)):
        problems.append("--tinyc %s: not an executable file" % args.tinyc)
    for task in args.tasks:
        spec = os.path.join(args.models, TASKS[task]["spec"])
        if not os.path.isfile(spec):
            problems.append("%s: model spec %s missing" % (task, spec))
        data = data_path(task, args)
        if not os.path.exists(data):
            problems.append("%s: data %s missing (--shared / --fashion)" % (task, data))
    return problems


def main(argv):
    args = parse_args(argv)
    args.tinyc = os.path.abspath(args.tinyc)
    args.shared = os.path.abspath(args.shared)
    args.fashion = os.path.abspath(args.fashion)
    args.models = os.path.abspath(args.models)
    problems = check_inputs(args)
    if problems:
        for p in problems:
            log(p)
        return 1
    machine = machine_info()
    peak, peak_src, peak_caveat = peak_for(args, machine)
    if peak_caveat:
        log("note: " + peak_caveat)
    use_peer = not args.no_peer and peer_available(args)
    started = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    load_before = os.getloadavg()[0]
    if load_before > 0.5:
        log("warning: load average %.2f: other processes distort %d-thread timings"
            % (load_before, args.threads))

    versions = {}
    rc, out, _ = run_quiet([args.tinyc, "--version"], timeout=10)
    if rc == 0 and out.strip():
        versions["tinyc"] = out.strip().splitlines()[0]

    total = sum(len(args.seeds) * (2 if use_peer and TASKS[t].get("peer", True) else 1)
                for t in args.tasks)
    done = 0
    failed = False
    summaries = []
    with tempfile.TemporaryDirectory(prefix="tinyc-bench-") as tmp:
        for task in args.tasks:
            runs = []
            for seed in args.seeds:
                sides = [("tinyc", lambda: run_tinyc(task, seed, args, tmp))]
                if use_peer and TASKS[task].get("peer", True):
                    sides.append(("pytorch", lambda: run_peer(task, seed, args)))
                for side, fn in sides:
                    done += 1
                    log("[%d/%d] %s %s seed %d" % (done, total, side, task, seed))
                    for attempt in range(1 + max(0, args.retries)):
                        quiet = wait_quiet(args.quiet_wait) if args.quiet_wait > 0 else True
                        with ForeignLoad() as load:
                            rec = fn()
                        if not rec["ok"] or load.share is None or load.share <= FOREIGN_LIMIT \
                                or not quiet:  # still busy after waiting: retrying won't help
                            break
                        if attempt < args.retries:
                            log("other processes used %.0f %% of the CPUs during the run: "
                                "running it again" % (100 * load.share))
                    rec["attempts"] = attempt + 1
                    rec = dict({"bench": "training", "kind": "run", "task": task,
                                "seed": seed, "threads": args.threads}, **rec)
                    rec["wall_seconds"] = round(load.wall, 3)
                    # other processes' share of all CPUs while this run went on (and the
                    # hypervisor's steal): above a few percent, 2-thread timings are noise
                    rec["foreign_cpu_share"] = (None if load.share is None
                                                else round(load.share, 4))
                    if load.share is not None and load.share > FOREIGN_LIMIT:
                        log("warning: other processes used %.0f %% of the CPUs during this "
                            "run: its timing is unreliable" % (100 * load.share))
                    if rec["ok"] and rec.get("samples_per_second"):
                        rec["gflops"] = 6 * TASKS[task]["macs"] * rec["samples_per_second"] / 1e9
                        rec["share_of_peak"] = rec["gflops"] / peak if peak else None
                    if not rec["ok"]:
                        failed = True
                        log("%s %s seed %d failed (exit %s): %s" % (
                            side, task, seed, rec.get("rc"), rec.get("error")))
                    if side == "pytorch" and rec["ok"]:
                        versions.setdefault("peer", "PyTorch %s" % rec.get("torch_version"))
                        versions.setdefault("blas", rec.get("blas"))
                        fps = rec.get("flop_per_sample")
                        if fps and fps != 6 * TASKS[task]["macs"]:
                            log("warning: %s: peer counts %s FLOP/sample, harness %d"
                                % (task, fps, 6 * TASKS[task]["macs"]))
                    print(json.dumps(rec), flush=True)
                    runs.append(rec)
            summary = summarize(task, runs, args, peak)
            for w in summary["warnings"]:
                log("%s: %s" % (task, w))
            print(json.dumps(summary), flush=True)
            summaries.append(summary)

    loads = (load_before, os.getloadavg()[0])
    if not args.no_write:
        versions["peer_env"] = "LD_LIBRARY_PATH=%s OPENBLAS_CORETYPE=SkylakeX" % OPENBLAS_DIR
        section = render(summaries, args, machine, peak, peak_src, peak_caveat, started,
                         loads, versions, command_line())
        write_markdown(args.out, section)
        log("wrote %s" % args.out)
    if failed:
        return 2
    if args.check and any(v is not None and not v.startswith("PASS")
                          for s in summaries
                          for v in (s["speed_verdict"], s["quality_verdict"])):
        return 3
    return 0


if __name__ == "__main__":
    # SIGTERM unwinds like Ctrl-C: the running child is killed, the temporary dir removed
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        log("interrupted")
        sys.exit(130)
