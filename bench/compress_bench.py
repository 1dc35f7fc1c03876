#!/usr/bin/env python3
"""Compression benchmark: what `tinyc compress` costs in accuracy and saves in size.

For digits_mlp, fashion_mlp and fashion_cnn (each trained once here with `tinyc train`,
seed 0): float vs post-training int8 (PTQ) vs quantization-aware int8 (QAT) accuracy and
weight bytes; magnitude pruning at 50/75/90 % (unstructured and --structured) with
fine-tuning: accuracy, parameters, nonzero parameters, weight bytes; distillation: a
784-32-10 student trained alone vs distilled from the committed fashion_tiny model, same
epochs and seeds (median of 3 seeds), and the same pair with a flip-augmented transfer set.
Accuracy is on each model's test split (t10k for Fashion-MNIST). Prints one JSON line per run on stdout (progress on stderr) and rewrites the
section of BENCHMARKS.md between `<!-- compress:begin` and `<!-- compress:end -->`.

    bench/compress_bench.py --tinyc build/tinyc            # everything (several minutes)
    bench/compress_bench.py --tinyc build/tinyc --quick    # digits_mlp only, no file written
    bench/compress_bench.py --tinyc build/tinyc --models '' --no-write > d.jsonl  # distillation only

Pure standard library. Exit status: 0 ok; 1 usage error; 2 some run failed.
"""

import argparse
import datetime
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

from bench_markdown import replace_section

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_FASHION = "/usr/share/datasets/fashion-mnist"
BEGIN_MARK = "<!-- compress:begin"
END_MARK = "<!-- compress:end -->"

# Per model: data key, training epochs override (None: the spec's), fine-tuning epochs after
# pruning, QAT epochs.
MODELS = {
    "digits_mlp": {"data": "digits", "epochs": None, "finetune": 5, "qat": 3},
    "fashion_mlp": {"data": "fashion", "epochs": None, "finetune": 2, "qat": 1},
    "fashion_cnn": {"data": "fashion", "epochs": None, "finetune": 1, "qat": 1},
}
# tinyc compress's distillation defaults (include/tinyc/distill.h), then a comparison row.
DEFAULT_T, DEFAULT_ALPHA = 1.0, 0.5
# A setting T:alpha[:flip] (flip: --teacher-flip, the teacher averaged over the mirror image).
DISTILL_SETTINGS = "%g:%g,%g:%g:flip,2:0.1" % (DEFAULT_T, DEFAULT_ALPHA, DEFAULT_T, DEFAULT_ALPHA)
# Student epochs, the same for both students: tuned on the held-out split (TUNING_TEXT).
STUDENT_EPOCHS = 20
# The transfer-set comparison: student spec "augment" (the teacher labels each epoch's
# augmented copies), for the student alone and distilled with the defaults.
TRANSFER_AUGMENT = {"flip_horizontal": True}
SPARSITIES = [0.5, 0.75, 0.8, 0.9]
STUDENT = {
    "name": "fashion_student", "input": [28, 28, 1], "task": "classification",
    "preprocess": {"normalize": "scale", "factor": 1.0 / 255.0},
    "split": {"val": 0.0, "test": 0.0}, "init": "glorot",
    "layers": [{"type": "flatten"}, {"type": "dense", "units": 32, "activation": "relu"},
               {"type": "dense", "units": 10, "activation": "softmax"}],
    "train": {"loss": "cross_entropy", "optimizer": "adam", "lr": 0.001, "batch": 32,
              "epochs": STUDENT_EPOCHS},
}


def log(msg):
    print("compress_bench: " + msg, file=sys.stderr, flush=True)


class Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        self.exit(1, "%s: error: %s\n" % (self.prog, message))


def parse_args(argv):
    p = Parser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tinyc", required=True, help="path to the tinyc binary")
    p.add_argument("--shared", default=os.path.join(os.path.dirname(REPO), "shared"),
                   help="the shared/ directory (default: <repo>/../shared)")
    p.add_argument("--fashion", default=DEFAULT_FASHION,
                   help="Fashion-MNIST IDX directory (default %s)" % DEFAULT_FASHION)
    p.add_argument("--models", default=",".join(MODELS),
                   help="comma-separated, from: " + ",".join(MODELS))
    p.add_argument("--seeds", default="0,1,2", help="distillation seeds (default 0,1,2)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-distill", action="store_true", help="skip the distillation runs")
    p.add_argument("--no-transfer", action="store_true",
                   help="skip the augmented transfer-set rows (student alone and distilled, "
                        "both with spec augment %s)" % json.dumps(TRANSFER_AUGMENT))
    p.add_argument("--distill-settings", default=DISTILL_SETTINGS,
                   help="distillation settings T:alpha[:flip] (flip: --teacher-flip), each a row (default %s: tinyc's "
                        "defaults first)" % DISTILL_SETTINGS)
    p.add_argument("--reuse", metavar="JSONL",
                   help="take the per-model records from a previous run's stdout instead of "
                        "re-running them (e.g. to redo only the distillation); with "
                        "--no-distill its distillation records too")
    p.add_argument("--quick", action="store_true",
                   help="digits_mlp only, no distillation; BENCHMARKS.md only with --out")
    p.add_argument("--out", help="markdown file to update (default <repo>/BENCHMARKS.md)")
    p.add_argument("--no-write", action="store_true", help="do not touch BENCHMARKS.md")
    a = p.parse_args(argv)
    a.models = [m.strip() for m in a.models.split(",") if m.strip()]
    unknown = [m for m in a.models if m not in MODELS]
    if unknown:
        p.error("--models: unknown %s" % ",".join(unknown))
    try:
        a.seeds = [int(s) for s in a.seeds.split(",") if s.strip()]
    except ValueError:
        p.error("--seeds: comma-separated integers expected")
    a.settings = []
    for t in (t.strip() for t in a.distill_settings.split(",")):
        f = t.split(":")
        try:
            if t and len(f) in (2, 3) and f[2:] in ([], ["flip"]):
                a.settings.append((float(f[0]), float(f[1]), len(f) == 3))
                continue
        except ValueError:
            pass
        p.error("--distill-settings: comma-separated T:alpha[:flip] expected")
    if a.quick:
        a.models, a.no_distill = ["digits_mlp"], True
        if a.out is None:
            a.no_write = True
    a.out = a.out or os.path.join(REPO, "BENCHMARKS.md")
    return a


class Runner:
    def __init__(self, args, tmp):
        self.args, self.tmp, self.failed = args, tmp, 0

    def tinyc(self, *argv):
        """Runs tinyc with --json; returns (parsed JSON or None, seconds)."""
        cmd = [self.args.tinyc] + [str(a) for a in argv] + ["--json"]
        log("$ " + " ".join(shlex.quote(c) for c in cmd))
        t0 = time.perf_counter()
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        seconds = time.perf_counter() - t0
        if r.returncode != 0:
            log("FAILED (exit %d): %s" % (r.returncode, r.stderr.strip().splitlines()[-1:]))
            self.failed += 1
            return None, seconds
        return json.loads(r.stdout), seconds

    def emit(self, record):
        print(json.dumps(record, sort_keys=True), flush=True)
        return record


def data_path(args, key):
    return (os.path.join(args.shared, "data", "tasks", "digits.csv") if key == "digits"
            else args.fashion)


def size_of(j):
    return {k: j[k] for k in ("params", "nonzero_params", "weights_bytes", "macs")}


def bench_model(run, name):
    cfg, args = MODELS[name], run.args
    data = data_path(args, cfg["data"])
    model = os.path.join(run.tmp, name + ".tinyc")
    train = ["train", os.path.join(REPO, "models", name + ".json"), "--data", data, "-o", model,
             "--seed", 0, "--threads", args.threads, "-q"]
    if cfg["epochs"]:
        train += ["--epochs", cfg["epochs"]]
    j, secs = run.tinyc(*train)
    if j is None:
        return []
    out = []
    common = ["--data", data, "--threads", args.threads, "--seed", 0]
    cases = [("int8 PTQ", ["--quantize", "int8"]),
             ("int8 QAT (%d epochs)" % cfg["qat"], ["--quantize", "int8", "--qat-epochs",
                                                   cfg["qat"]])]
    for s in SPARSITIES:
        ft = ["--finetune-epochs", cfg["finetune"]]
        cases.append(("prune %d %%" % round(100 * s), ["--prune", s, "--prune-scope", "global"]
                      + ft))
        cases.append(("prune %d %% structured" % round(100 * s),
                      ["--prune", s, "--structured"] + ft))
    first = True
    for label, flags in cases:
        c, secs = run.tinyc("compress", model, "-o", os.path.join(run.tmp, "c.tinyc"),
                            *(common + flags))
        if c is None:
            continue
        if first:
            out.append(run.emit({"bench": "compress", "model": name, "case": "float",
                                 "accuracy": c["before"]["metrics"]["accuracy"],
                                 **size_of(c["before"])}))
            first = False
        rec = {"bench": "compress", "model": name, "case": label,
               "accuracy": c["after"]["metrics"]["accuracy"], "seconds": round(secs, 1),
               **size_of(c["after"])}
        for st in c["stages"]:
            if st["stage"] == "quantize" and "ptq_metrics" in st:
                rec["ptq_accuracy"] = st["ptq_metrics"]["accuracy"]
        out.append(run.emit(rec))
    return out


def bench_distill(run):
    args = run.args
    teacher = os.path.join(REPO, "models", "fashion_tiny.tinyc")
    student = os.path.join(run.tmp, "student.json")
    with open(student, "w") as f:
        json.dump(STUDENT, f)
    student_aug = os.path.join(run.tmp, "student_transfer.json")
    with open(student_aug, "w") as f:
        json.dump(dict(STUDENT, augment=TRANSFER_AUGMENT), f)
    out = []
    t, _ = run.tinyc("eval", teacher, "--data", args.fashion)
    teacher_acc = t["metrics"]["accuracy"] if t else None

    def alone(spec, seed):
        a, _ = run.tinyc("train", spec, "--data", args.fashion, "-o",
                         os.path.join(run.tmp, "alone.tinyc"), "--seed", seed, "--threads",
                         args.threads, "-q")
        return a["metrics"]["test"]["accuracy"] if a else None

    def distilled(spec, seed, t, alpha, rec, flip=False):
        d, _ = run.tinyc("compress", teacher, "--data", args.fashion, "--student", spec, "-o",
                         os.path.join(run.tmp, "distilled.tinyc"), "--seed", seed, "--threads",
                         args.threads, "--temperature", t, "--alpha", alpha,
                         *(["--teacher-flip"] if flip else []))
        if d is None:
            return None
        rec["student_params"] = d["after"]["params"]
        rec["teacher_params"] = d["before"]["params"]
        return d["after"]["metrics"]["accuracy"]

    for seed in args.seeds:
        acc = alone(student, seed)
        if acc is None:
            continue
        rec = {"bench": "distill", "seed": seed, "teacher_accuracy": teacher_acc,
               "alone_accuracy": acc, "distilled": {}}
        for t, alpha, flip in args.settings:
            v = distilled(student, seed, t, alpha, rec, flip)
            if v is not None:
                rec["distilled"]["T %g, alpha %g%s" % (t, alpha, ", teacher flip" if flip else "")] = v
        if not args.no_transfer:
            t, alpha, _ = args.settings[0]
            rec["transfer"] = {"augment": TRANSFER_AUGMENT, "alone": alone(student_aug, seed),
                               "distilled": distilled(student_aug, seed, t, alpha, rec),
                               "setting": "T %g, alpha %g" % (t, alpha)}
        out.append(run.emit(rec))
    return out


def fmt_acc(v):
    return "%.4f" % v if v is not None else "-"


def med_range(values):
    return "%.4f [%.4f - %.4f]" % (statistics.median(values), min(values), max(values))


def goal_lines(rows):
    """The issue's pruning goals, checked on this model's rows: 80 % unstructured loses <= 1.0
    point; 50 % structured loses <= 1.5 points and cuts parameters and MACs by >= 45 %."""
    by_case = {r["case"]: r for r in rows}
    base, out = rows[0], []
    u = by_case.get("prune 80 %")
    if u:
        loss = 100 * (base["accuracy"] - u["accuracy"])
        out.append("- Goal, 80 %% unstructured: %+.2f pt vs float (goal: loses <= 1.0): %s" % (
            -loss, "met" if loss <= 1.0 else "NOT met"))
    s = by_case.get("prune 50 % structured")
    if s and base.get("macs") and s.get("macs") is not None:
        loss = 100 * (base["accuracy"] - s["accuracy"])
        cut_p = 100 * (1 - s["params"] / base["params"])
        cut_m = 100 * (1 - s["macs"] / base["macs"])
        ok = loss <= 1.5 and cut_p >= 45 and cut_m >= 45
        out.append("- Goal, 50 %% structured: %+.2f pt vs float (goal: loses <= 1.5), cuts "
                   "params %.1f %% and MACs %.1f %% (goal >= 45 %%): %s" % (
                       -loss, cut_p, cut_m, "met" if ok else "NOT met"))
    return out + [""] if out else []


# How T and alpha were chosen (bench/README: the honest tuning protocol); numbers measured
# once, before the t10k runs, and quoted as such.
TUNING_TEXT = (
    "Tuning, before these runs and without t10k: a copy of the teacher trained on train images "
    "1-50000 only (fashion_tiny spec, seed 0: 0.9214 on images 50001-60000), students trained "
    "on images 1-50000 with seeds 10-13 and scored on images 50001-60000; the epochs (the same "
    "for both students), T and alpha were picked by the mean held-out gap (distilled - alone) "
    "over the 4 seeds, asking the gap to exceed its seed spread. Mean held-out accuracy "
    "(gap mean, [min - max] over seeds, in points): alone 0.8623 / 0.8738 / 0.8748 / 0.8772 "
    "at 5 / 10 / 20 / 40 epochs (no overfitting peak up to 40 epochs); T 1 alpha 0.5: 5 epochs "
    "0.8660 (+0.37 [+0.05, +0.74]), 10: 0.8759 (+0.21 [+0.05, +0.49]), 20: 0.8799 (+0.51 "
    "[+0.22, +0.73]), 40: 0.8817 (+0.45 [+0.17, +0.77]); T 1 alpha 0.5 teacher flip, 20 "
    "epochs: 0.8812 (+0.64 [+0.59, +0.70]); T 1 alpha 0.1: 10 epochs -0.08 [-0.23, +0.13], "
    "20 epochs +0.55 [+0.35, +0.90] (a tie with alpha 0.5 within the spread); T 2 alpha "
    "0.1: 10 epochs -0.33, 20: "
    "+0.26 [+0.01, +0.56], 40: +0.23 [-0.44, +0.86]; T 3 alpha 0.1: 10 epochs -0.58, 20: -0.29 "
    "(seeds 10, 11); T 4 alpha 0.1: 10 / 20 / 40 epochs -1.04 / -0.67 / -0.37. At 5 epochs "
    "(earlier round): T 1 alpha 0.1 / 0.7, T 1.5 alpha 0.5 within the seed spread, T >= 2 lost; "
    "augmented transfer sets (shift 2 + flip, flip only) cost this MLP more than distillation "
    "gave back, Gaussian noise 0.1 gave poor teacher labels. Chosen: 20 epochs, T 1, alpha "
    "0.5 (defaults), and the same with the teacher averaged over the mirror image; the table "
    "below is their one run on t10k, with T 2 alpha 0.1 for comparison.")
# Shown only when the t10k medians do not show a win (the runs are deterministic).
NO_WIN_TEXT = (
    "Why distillation does not win here: at 5 epochs (the previous setting) the held-out gain "
    "(+0.37 pt mean) was the size of the seed-to-seed spread and did not carry to t10k; at 20 "
    "epochs (tuned above) the distilled student keeps gaining from the teacher's soft targets "
    "while the student alone stalls, so check that the student epochs are the tuned ones.")


def distill_lines(dist):
    lines = ["### Distillation", "",
             "Student 784-32-10 (flatten, dense 32 relu, dense 10; Adam 0.001, batch 32, "
             "%d epochs) trained alone (`tinyc train`) vs distilled (`tinyc compress "
             "models/fashion_tiny.tinyc --student ... --temperature T --alpha A`) from the "
             "committed fashion_tiny CNN (%d params, test accuracy %s); same seeds "
             "(initialization and shuffling), same epochs, same training rows (the 60000 "
             "train images, no augmentation unless the row says so), test accuracy on t10k. "
             "`tinyc compress` defaults: T %g, alpha %g (see README); teacher flip: "
             "`--teacher-flip`." % (
                 STUDENT_EPOCHS, dist[0]["teacher_params"], fmt_acc(dist[0]["teacher_accuracy"]),
                 DEFAULT_T, DEFAULT_ALPHA),
             "", TUNING_TEXT, "",
             "| student | test accuracy, median [min - max] of seeds %s |" % ",".join(
                 str(r["seed"]) for r in dist),
             "|---|---|",
             "| trained alone | %s |" % med_range([r["alone_accuracy"] for r in dist])]
    for t in dist[0]["distilled"]:
        lines.append("| distilled, %s | %s |" % (
            t, med_range([r["distilled"][t] for r in dist if t in r["distilled"]])))
    tr = [r["transfer"] for r in dist if r.get("transfer") and r["transfer"]["alone"] is not None
          and r["transfer"]["distilled"] is not None]
    if tr:
        aug = json.dumps(tr[0]["augment"])
        lines.append("| trained alone, augment %s | %s |" % (aug, med_range([x["alone"] for x in tr])))
        lines.append("| distilled, %s, transfer set: augment %s | %s |" % (
            tr[0]["setting"], aug, med_range([x["distilled"] for x in tr])))
    lines.append("")
    alone = statistics.median(r["alone_accuracy"] for r in dist)
    first = "T %g, alpha %g" % (DEFAULT_T, DEFAULT_ALPHA)  # the defaults' row, if it ran
    if first not in dist[0]["distilled"]:
        first = next(iter(dist[0]["distilled"]))
    dmed = statistics.median(r["distilled"][first] for r in dist if first in r["distilled"])
    wins = sum(r["distilled"].get(first, 0) > r["alone_accuracy"] for r in dist)
    lines += ["Result (defaults, %s): median %.4f vs %.4f alone (%+.2f pt), wins %d of %d "
              "seeds: %s." % (first, dmed, alone, 100 * (dmed - alone), wins, len(dist),
                              "distillation beats training alone" if dmed > alone else
                              "distillation does NOT beat training alone here"), ""]
    if dmed <= alone:
        lines += [NO_WIN_TEXT, ""]
    for r in dist:
        extra = ""
        if r.get("transfer") and r["transfer"]["alone"] is not None:
            extra = ", alone augmented %.4f, distilled transfer set %s" % (
                r["transfer"]["alone"], fmt_acc(r["transfer"]["distilled"]))
        lines.append("- seed %d: alone %.4f, %s%s" % (r["seed"], r["alone_accuracy"], ", ".join(
            "distilled %s %.4f" % (t, v) for t, v in r["distilled"].items()), extra))
    lines.append("")
    return lines


def render(args, records, started):
    lines = [BEGIN_MARK + " (bench/compress_bench.py) -->", "## Compression (tinyc compress)", "",
             "Generated by `bench/compress_bench.py`; do not edit this section by hand.", "",
             "- Date: %s UTC" % started.strftime("%Y-%m-%d %H:%M"),
             "- Command: `bench/compress_bench.py %s`" % " ".join(
                 shlex.quote(a) for a in sys.argv[1:]),
             "- Models trained here with `tinyc train --seed 0` (spec epochs); accuracy on the "
             "test split (digits: the data's split column; Fashion-MNIST: t10k). int8 "
             "calibration: 1000 train rows, `auto`; QAT and pruning fine-tune with the spec's "
             "optimizer; unstructured pruning zeroes dense weight matrices only (conv2d "
             "kernels stay dense) with one global threshold (`--prune-scope "
             "global`), structured pruning removes the fraction of units/filters of every layer "
             "that has a prunable consumer. Weight bytes: float32 (or int8 + int32 biases + scales) as `tinyc "
             "info` counts them, zeros included (pruned models are stored dense).", ""]
    for name in args.models:
        rows = [r for r in records if r["bench"] == "compress" and r["model"] == name]
        if not rows:
            continue
        cfg = MODELS[name]
        lines += ["### %s" % name, "",
                  "Pruning fine-tunes %d epoch(s); QAT %d epoch(s)." % (cfg["finetune"],
                                                                        cfg["qat"]), "",
                  "| case | test accuracy | vs float | params | nonzero params | weight bytes "
                  "| MACs |",
                  "|---|---|---|---|---|---|---|"]
        base = rows[0]
        for r in rows:
            lines.append("| %s | %.4f | %+.2f pt | %d | %d | %d | %s |" % (
                r["case"], r["accuracy"], 100 * (r["accuracy"] - base["accuracy"]), r["params"],
                r["nonzero_params"], r["weights_bytes"], r.get("macs", "-")))
        lines.append("")
        if name == "fashion_mlp":  # the model the pruning goals name
            lines += goal_lines(rows)
    dist = [r for r in records if r["bench"] == "distill"]
    if dist:
        lines += distill_lines(dist)
    lines.append(END_MARK)
    return "\n".join(lines) + "\n"


def write_markdown(path, section):
    replace_section(path, section, BEGIN_MARK, END_MARK)


def main(argv):
    args = parse_args(argv)
    started = datetime.datetime.now(datetime.timezone.utc)
    with tempfile.TemporaryDirectory(prefix="compress_bench.") as tmp:
        run = Runner(args, tmp)
        records = []
        if args.reuse:
            keep = ("compress", "distill") if args.no_distill else ("compress",)
            with open(args.reuse) as f:
                records = [r for r in (json.loads(line) for line in f if line.strip())
                           if r.get("bench") in keep]
            for r in records:
                run.emit(r)
        else:
            for name in args.models:
                records += bench_model(run, name)
        if not args.no_distill:
            records += bench_distill(run)
    if not args.no_write:
        write_markdown(args.out, render(args, records, started))
        log("wrote " + args.out)
    return 2 if run.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
