"""Tasks, summaries and the BENCHMARKS.md section of the training benchmark
(bench/run_bench.py runs the programs; this module judges and reports)."""

import os
import statistics

from bench_markdown import replace_section

BEGIN_MARK = "<!-- training:begin -->"
END_MARK = "<!-- training:end -->"
FOREIGN_LIMIT = 0.05  # share of the machine other processes may use before we warn

# Per task: spec file, data (kind), how quality is read, forward MACs per sample, targets.
# Quality: (split, metric); linear has no test split, so its rows are all train rows.
# quality_target: (kind, value[, tolerance]): "min" value >= x, "max" value <= x,
# "near" |value - x| <= tol.
TASKS = {
    "linear": {
        "spec": "linear.json", "data": "linear.csv", "split": "train", "metric": "mse",
        "macs": 1, "epochs": 500,
        "describe": "y = w x + b, zero init; MSE / SGD 0.01; full batch 6, 500 epochs",
        "speed_target": None,
        "quality_target": ("near", 1.997318, 1e-4), "quality_name": "w",
    },
    "sine": {
        "spec": "sine.json", "data": "sine.csv", "split": "test", "metric": "mse",
        "macs": 16 + 256 + 16, "epochs": 500,
        "describe": "1 -> 16 relu -> 16 relu -> 1; MSE / Adam 0.001; batch 16, 500 epochs",
        "speed_target": 20.0,
        "quality_target": ("max", 0.015), "quality_name": "test MSE",
    },
    "digits_mlp": {
        "spec": "digits_mlp.json", "data": "digits.csv", "split": "test",
        "metric": "accuracy", "macs": 64 * 32 + 32 * 10, "epochs": 50,
        "describe": "64 (/16) -> 32 relu -> 10; CE / Adam 0.001; batch 32, 50 epochs",
        "speed_target": 20.0,
        "quality_target": ("min", 0.96), "quality_name": "test accuracy",
    },
    "fashion_mlp": {
        "spec": "fashion_mlp.json", "data": "fashion", "split": "test",
        "metric": "accuracy", "macs": 784 * 128 + 128 * 10, "epochs": 5,
        "describe": "784 (/255) -> 128 relu -> 10; CE / Adam 0.001; batch 32, 5 epochs",
        "speed_target": 4.0,
        "quality_target": ("min", 0.865), "quality_name": "test accuracy",
    },
    "fashion_cnn": {
        "spec": "fashion_cnn.json", "data": "fashion", "split": "test",
        "metric": "accuracy",
        # conv1 26*26*8*9 + conv2 11*11*16*8*9 + dense 400*10
        "macs": 26 * 26 * 8 * 9 + 11 * 11 * 16 * 8 * 9 + 400 * 10, "epochs": 3,
        "describe": ("conv 8 3x3, relu, maxpool 2, conv 16 3x3, relu, maxpool 2, dense 10; "
                     "CE / Adam 0.001; batch 32, 3 epochs"),
        "speed_target": 2.0, "quality_target": ("min", 0.86),
        "quality_name": "test accuracy",
    },
    "fashion_tiny": {
        "spec": "fashion_tiny.json", "data": "fashion", "split": "test",
        "metric": "accuracy", "peer": False,  # tinyc's own model to flash: no PyTorch twin
        # conv1 28*28*16*9 + conv2 14*14*32*16*9 + conv3 7*7*64*32*9 + dense 576*10
        "macs": 28 * 28 * 16 * 9 + 14 * 14 * 32 * 16 * 9 + 7 * 7 * 64 * 32 * 9 + 576 * 10,
        "epochs": 30,
        "describe": ("conv 16/32/64 3x3 same relu, each + maxpool 2, dropout 0.2, dense 10; "
                     "shift 2 + flip augmentation; CE / Adam 0.002 cosine, weight decay 1e-4; "
                     "batch 64, 30 epochs"),
        "speed_target": None, "quality_target": ("min", 0.915),
        "quality_name": "test accuracy",
    },
}
DEFAULT_TASKS = ["linear", "sine", "digits_mlp", "fashion_mlp"]
QUICK_TASKS = ["linear", "sine", "digits_mlp"]


# ---------------------------------------------------------------- summary

def stats(values):
    vals = [v for v in values if v is not None]
    if not vals:
        return None
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals),
            "n": len(vals)}


def meets(target, value):
    if value is None or target is None:
        return None
    kind = target[0]
    if kind == "min":
        return value >= target[1]
    if kind == "max":
        return value <= target[1]
    return abs(value - target[1]) <= target[2]


def verdict(target, per_seed, median):
    """PASS if every seed meets the target; a median pass with failing seeds says so."""
    results = [meets(target, v) for v in per_seed]
    known = [r for r in results if r is not None]
    if target is None or not known:
        return None
    med_ok = meets(target, median)
    bad = known.count(False)
    if med_ok and bad == 0:
        return "PASS"
    if med_ok:
        return "PASS (median; %d/%d seeds miss)" % (bad, len(known))
    return "FAIL"


def summarize(task, runs, args, peak):
    spec = TASKS[task]
    flop = 6 * spec["macs"]
    by_side = {"tinyc": [r for r in runs if r["side"] == "tinyc"],
               "pytorch": [r for r in runs if r["side"] == "pytorch"]}
    summary = {"bench": "training", "kind": "summary", "task": task, "threads": args.threads,
               "seeds": args.seeds, "flop_per_sample": flop}
    for side, rs in by_side.items():
        ok = [r for r in rs if r.get("ok")]
        sps = stats([r.get("samples_per_second") for r in ok])
        s = {"runs": len(rs), "failed": len(rs) - len(ok),
             "samples_per_second": sps,
             "train_seconds": stats([r.get("train_seconds") for r in ok]),
             "quality": stats([r.get("quality") for r in ok]),
             "epochs": sorted({r.get("epochs") for r in ok if r.get("epochs") is not None})}
        if task == "linear":
            s["mse"] = stats([r.get("mse") for r in ok])
            s["b"] = stats([r.get("b") for r in ok])
        if sps:
            s["gflops"] = flop * sps["median"] / 1e9
            s["share_of_peak"] = s["gflops"] / peak if peak else None
        if side == "tinyc":
            s["threads_used"] = sorted({r.get("threads_used") for r in ok
                                        if r.get("threads_used") is not None})
        if side == "pytorch" and ok:
            s["torch_version"] = ok[0].get("torch_version")
            s["blas"] = ok[0].get("blas")
        summary[side] = s
    # per-seed ratio: runs of the same seed were measured back to back
    ratios = []
    for seed in args.seeds:
        t = [r for r in by_side["tinyc"] if r["seed"] == seed and r.get("ok")]
        p = [r for r in by_side["pytorch"] if r["seed"] == seed and r.get("ok")]
        if t and p and t[0].get("samples_per_second") and p[0].get("samples_per_second"):
            ratios.append(t[0]["samples_per_second"] / p[0]["samples_per_second"])
    summary["ratio"] = stats(ratios)
    if summary["ratio"]:
        summary["ratio"]["per_seed"] = ratios
    st = spec["speed_target"]
    summary["speed_target"] = st
    summary["speed_verdict"] = (verdict(("min", st), ratios, summary["ratio"]["median"])
                                if st and ratios else None)
    qt = spec["quality_target"]
    tq = summary["tinyc"]["quality"]
    summary["quality_target"] = list(qt) if qt else None
    summary["quality_verdict"] = (verdict(qt, [r.get("quality") for r in by_side["tinyc"]
                                               if r.get("ok")], tq["median"])
                                  if qt and tq else None)
    warnings = []
    te, pe = summary["tinyc"]["epochs"], summary["pytorch"]["epochs"]
    if te and te != [spec["epochs"]]:
        warnings.append("tinyc ran %s epochs, the task defines %d" % (te, spec["epochs"]))
    if pe and pe != [spec["epochs"]]:
        warnings.append("the peer ran %s epochs, the task defines %d" % (pe, spec["epochs"]))
    rows = {side: sorted({r.get("train_rows") for r in rs if r.get("ok")
                          and r.get("train_rows") is not None})
            for side, rs in by_side.items()}
    if rows["tinyc"] and rows["pytorch"] and rows["tinyc"] != rows["pytorch"]:
        warnings.append("tinyc trained on %s rows, the peer on %s" % (rows["tinyc"],
                                                                      rows["pytorch"]))
    for side in ("tinyc", "pytorch"):
        if summary[side]["failed"]:
            first = next(r for r in by_side[side] if not r.get("ok"))
            warnings.append("%d %s run(s) failed (first: exit %s, `%s`)" % (
                summary[side]["failed"], side, first.get("rc"), first.get("error")))
    if summary["tinyc"]["quality"] is None and summary["tinyc"]["runs"] > \
            summary["tinyc"]["failed"]:
        warnings.append("w of tinyc unknown (`tinyc predict --json` gave no outputs): see "
                        "train MSE" if task == "linear" else
                        "tinyc printed no metrics.%s.%s" % (spec["split"], spec["metric"]))
    busy = [r for r in runs if (r.get("foreign_cpu_share") or 0) > FOREIGN_LIMIT]
    if busy:
        warnings.append("%d of %d runs shared the machine with other processes (up to %.0f %% "
                        "of the CPUs): their timings are unreliable" % (
                            len(busy), len(runs),
                            100 * max(r["foreign_cpu_share"] for r in busy)))
    summary["foreign_cpu_share_max"] = max((r.get("foreign_cpu_share") or 0 for r in runs),
                                           default=None)
    summary["warnings"] = warnings
    return summary


# ---------------------------------------------------------------- markdown

def fmt_rate(x):
    if x is None:
        return "-"
    if x >= 1e6:
        return "%.2f M" % (x / 1e6)
    if x >= 1e3:
        return "%.1f k" % (x / 1e3)
    return "%.0f" % x


def fmt_range(s, f):
    if not s:
        return "-"
    if s["n"] == 1:
        return f(s["median"])
    return "%s [%s - %s]" % (f(s["median"]), f(s["min"]), f(s["max"]))


def quality_formatter(task):
    digits = 6 if task == "linear" else 4  # w to 1e-6; MSE and accuracy to 1e-4
    return lambda v: "%.*f" % (digits, v)


def fmt_target(target, name):
    if not target:
        return "-"
    kind = target[0]
    if kind == "min":
        return "%s >= %.10g" % (name, target[1])
    if kind == "max":
        return "%s <= %.10g" % (name, target[1])
    return "%s = %.10g +- %g" % (name, target[1], target[2])


def fmt_pct(x):
    if x is None:
        return "-"
    return "%.1f %%" % (100 * x) if x >= 1e-3 else "%.2g %%" % (100 * x)


def mark(v):
    return "-" if v is None else v


def render(summaries, args, machine, peak, peak_src, peak_caveat, started, loads, versions,
           command):
    lines = [BEGIN_MARK, "## Training speed and quality against PyTorch", ""]
    lines.append("Generated by `bench/run_bench.py`; do not edit this section by hand.")
    lines.append("")
    lines.append("- Date: %s" % started)
    lines.append("- Machine: %s (cpu family %s, model %s), nproc %s%s" % (
        machine["cpu"], machine["family"], machine["model"], machine["nproc"],
        ", %s GB RAM" % machine["mem_gb"] if "mem_gb" in machine else ""))
    lines.append("- Threads: %d (tinyc `--threads %d`; PyTorch `torch.set_num_threads(%d)`, "
                 "`OMP_NUM_THREADS=%d`)" % (args.threads, args.threads, args.threads,
                                            args.threads))
    lines.append("- Seeds: %s; medians with [min - max] over seeds; tinyc and PyTorch run "
                 "alternately, seed by seed; speed ratio = median of per-seed ratios"
                 % ",".join(str(s) for s in args.seeds))
    lines.append("- tinyc: `%s`%s" % (args.tinyc, " (%s)" % versions["tinyc"]
                                       if versions.get("tinyc") else ""))
    if args.no_peer or not versions.get("peer"):
        lines.append("- Peer: not run")
    else:
        lines.append("- Peer: %s (`bench/peers/torch_peer.py`), %s" % (
            versions["peer"], "BLAS: " + ", ".join("`%s`" % os.path.basename(b)
                                                  for b in versions.get("blas") or [])
            if versions.get("blas") else "BLAS unknown"))
        lines.append("  with `%s` as shared/reference/peers.md prescribes"
                     % versions.get("peer_env"))
    lines.append("- Load average (1 min) before / after: %.2f / %.2f; CPU used by other "
                 "processes during the runs: at most %s of the machine" % (
                     loads + (fmt_pct(max((s.get("foreign_cpu_share_max") or 0
                                           for s in summaries), default=None)),)))
    lines.append("- Share of peak = 6 x forward MACs per sample x samples/s / %s" % (
        "%g GFLOP/s fp32 peak at %d threads (source: %s)" % (peak, args.threads, peak_src)
        if peak else "(no peak figure: %s)" % peak_src))
    if peak_caveat:
        lines.append("- Caveat: %s" % peak_caveat)
    lines.append("- Command: `%s`" % command)
    lines.append("")
    lines.append("Targets: fashion_mlp >= 4x PyTorch, sine and digits_mlp >= 20x; quality: "
                 "linear w = 1.997318 +- 1e-4, sine test MSE <= 0.015, digits_mlp test "
                 "accuracy >= 0.96, fashion_mlp test accuracy >= 0.865. PASS means every seed "
                 "meets the target.")
    lines.append("")
    lines.append("| task | tinyc samples/s | PyTorch samples/s | tinyc / PyTorch | speed target "
                 "| tinyc quality | quality target | tinyc share of peak |")
    lines.append("|---|---|---|---|---|---|---|---|")
    for s in summaries:
        task = s["task"]
        spec = TASKS[task]
        qf = quality_formatter(task)
        st = s["speed_target"]
        lines.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
            task, fmt_range(s["tinyc"]["samples_per_second"], fmt_rate),
            fmt_range(s["pytorch"]["samples_per_second"], fmt_rate),
            fmt_range(s["ratio"], lambda v: "%.2fx" % v),
            (">= %gx: %s" % (st, mark(s["speed_verdict"]))) if st else "-",
            fmt_range(s["tinyc"]["quality"], qf),
            ("%s: %s" % (fmt_target(spec["quality_target"], spec["quality_name"]),
                         mark(s["quality_verdict"]))) if spec["quality_target"] else "-",
            fmt_pct(s["tinyc"].get("share_of_peak"))))
    for s in summaries:
        lines.extend(render_task(s))
    lines.append(END_MARK)
    return "\n".join(lines) + "\n"


def render_task(s):
    task = s["task"]
    spec = TASKS[task]
    qf = quality_formatter(task)
    flop = s["flop_per_sample"]
    work = "%.3g MFLOP" % (flop / 1e6) if flop >= 1e5 else "%d FLOP" % flop
    out = ["", "### %s" % task, "",
           "%s; %s per training sample (6 x forward MACs)." % (spec["describe"], work), ""]
    qname = spec["quality_name"]
    extra = " | train MSE | b" if task == "linear" else ""
    out.append("| side | train s | samples/s | %s%s | GFLOP/s | share of peak |" % (qname,
                                                                                   extra))
    out.append("|---|---|---|---|%s---|---|" % ("---|---|" if extra else ""))
    for side, label in (("tinyc", "tinyc"), ("pytorch", "PyTorch")):
        d = s[side]
        if not d["runs"]:
            continue
        used = d.get("threads_used")
        if used and used != [s["threads"]]:  # tinyc may pick fewer threads for tiny layers
            label += " (used %s thread%s)" % ("/".join(map(str, used)),
                                              "" if used == [1] else "s")
        row = "| %s | %s | %s | %s" % (label, fmt_range(d["train_seconds"], lambda v: "%.3g" % v),
                                       fmt_range(d["samples_per_second"], fmt_rate),
                                       fmt_range(d["quality"], qf))
        if extra:
            row += " | %s | %s" % (fmt_range(d.get("mse"), lambda v: "%.3g" % v),
                                   fmt_range(d.get("b"), lambda v: "%.6f" % v))
        row += " | %s | %s |" % ("-" if d.get("gflops") is None else "%.3g" % d["gflops"],
                                 fmt_pct(d.get("share_of_peak")))
        out.append(row)
    if s["ratio"]:
        out.append("")
        out.append("Speed ratio tinyc / PyTorch per seed: %s." % ", ".join(
            "%.2fx" % r for r in s["ratio"]["per_seed"]))
    for w in s["warnings"]:
        out.append("")
        out.append("Warning: %s." % w)
    return out


def write_markdown(path, section):
    replace_section(path, section, BEGIN_MARK, END_MARK)
