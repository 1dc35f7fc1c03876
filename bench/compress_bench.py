#!/usr/bin/env python3
"""Compression benchmark: what `tinyc compress` costs in accuracy and saves in size.

For digits_mlp, fashion_mlp and fashion_cnn (each trained once here with `tinyc train`,
seed 0): float vs post-training int8 (PTQ) vs quantization-aware int8 (QAT) accuracy and
weight bytes; magnitude pruning at 50/75/90 % (unstructured and --structured) with
fine-tuning: accuracy, parameters, nonzero parameters, weight bytes; distillation: a
784-32-10 student trained alone vs distilled from the committed fashion_tiny model, same
epochs and seeds (median of 3 seeds). Accuracy is on each model's test split (t10k for
Fashion-MNIST). Prints one JSON line per run on stdout (progress on stderr) and rewrites the
section of BENCHMARKS.md between `<!-- compress:begin` and `<!-- compress:end -->`.

    bench/compress_bench.py --tinyc build/tinyc            # everything (several minutes)
    bench/compress_bench.py --tinyc build/tinyc --quick    # digits_mlp only, no file written

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
SPARSITIES = [0.5, 0.75, 0.9]
STUDENT = {
    "name": "fashion_student", "input": [28, 28], "task": "classification",
    "preprocess": {"normalize": "scale", "factor": 1.0 / 255.0},
    "split": {"val": 0.0, "test": 0.0}, "init": "glorot",
    "layers": [{"type": "flatten"}, {"type": "dense", "units": 32, "activation": "relu"},
               {"type": "dense", "units": 10, "activation": "softmax"}],
    "train": {"loss": "cross_entropy", "optimizer": "adam", "lr": 0.001, "batch": 32,
              "epochs": 5},
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
    p.add_argument("--temperatures", default="4,1",
                   help="distillation temperatures, each a row (default 4,1; alpha 0.5)")
    p.add_argument("--reuse", metavar="JSONL",
                   help="take the per-model records from a previous run's stdout instead of "
                        "re-running them (e.g. to redo only the distillation)")
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
    try:
        a.temperatures = [float(t) for t in a.temperatures.split(",") if t.strip()]
    except ValueError:
        p.error("--temperatures: comma-separated numbers expected")
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
    return {k: j[k] for k in ("params", "nonzero_params", "weights_bytes")}


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
    out = []
    t, _ = run.tinyc("eval", teacher, "--data", args.fashion)
    teacher_acc = t["metrics"]["accuracy"] if t else None
    for seed in args.seeds:
        a, _ = run.tinyc("train", student, "--data", args.fashion, "-o",
                         os.path.join(run.tmp, "alone.tinyc"), "--seed", seed, "--threads",
                         args.threads, "-q")
        if a is None:
            continue
        rec = {"bench": "distill", "seed": seed, "teacher_accuracy": teacher_acc,
               "alone_accuracy": a["metrics"]["test"]["accuracy"], "distilled": {}}
        for t in args.temperatures:
            d, secs = run.tinyc("compress", teacher, "--data", args.fashion, "--student",
                                student, "-o", os.path.join(run.tmp, "distilled.tinyc"),
                                "--seed", seed, "--threads", args.threads, "--temperature", t)
            if d is None:
                continue
            rec["distilled"]["%g" % t] = d["after"]["metrics"]["accuracy"]
            rec["student_params"] = d["after"]["params"]
            rec["teacher_params"] = d["before"]["params"]
        out.append(run.emit(rec))
    return out


def fmt_acc(v):
    return "%.4f" % v if v is not None else "-"


def med_range(values):
    return "%.4f [%.4f - %.4f]" % (statistics.median(values), min(values), max(values))


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
                  "| case | test accuracy | vs float | params | nonzero params | weight bytes |",
                  "|---|---|---|---|---|---|"]
        base = rows[0]["accuracy"]
        for r in rows:
            lines.append("| %s | %.4f | %+.2f pt | %d | %d | %d |" % (
                r["case"], r["accuracy"], 100 * (r["accuracy"] - base), r["params"],
                r["nonzero_params"], r["weights_bytes"]))
        lines.append("")
    dist = [r for r in records if r["bench"] == "distill"]
    if dist:
        lines += ["### Distillation", "",
                  "Student 784-32-10 (flatten, dense 32 relu, dense 10; Adam 0.001, batch 32, "
                  "5 epochs) trained alone (`tinyc train`) vs distilled (`tinyc compress "
                  "models/fashion_tiny.tinyc --student ... --temperature T`, alpha 0.5) from the "
                  "committed fashion_tiny CNN (%d params, test accuracy %s); same seeds "
                  "(initialization and shuffling), same epochs." % (
                      dist[0]["teacher_params"], fmt_acc(dist[0]["teacher_accuracy"])), "",
                  "| student | test accuracy, median [min - max] of seeds %s |" % ",".join(
                      str(r["seed"]) for r in dist),
                  "|---|---|",
                  "| trained alone | %s |" % med_range([r["alone_accuracy"] for r in dist])]
        for t in sorted(dist[0]["distilled"], key=float, reverse=True):
            lines.append("| distilled, T %s | %s |" % (
                t, med_range([r["distilled"][t] for r in dist if t in r["distilled"]])))
        lines.append("")
        for r in dist:
            lines.append("- seed %d: alone %.4f, %s" % (r["seed"], r["alone_accuracy"], ", ".join(
                "distilled T %s %.4f" % (t, v) for t, v in sorted(r["distilled"].items()))))
        lines.append("")
    lines.append(END_MARK)
    return "\n".join(lines) + "\n"


def write_markdown(path, section):
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        text = "# Benchmarks\n\n"
    b, e = text.find(BEGIN_MARK), text.find(END_MARK)
    if b != -1 and e != -1 and e > b:
        text = text[:b] + section.rstrip("\n") + text[e + len(END_MARK):]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    if not text.endswith("\n"):
        text += "\n"
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def main(argv):
    args = parse_args(argv)
    started = datetime.datetime.now(datetime.timezone.utc)
    with tempfile.TemporaryDirectory(prefix="compress_bench.") as tmp:
        run = Runner(args, tmp)
        records = []
        if args.reuse:
            with open(args.reuse) as f:
                records = [r for r in (json.loads(line) for line in f if line.strip())
                           if r.get("bench") == "compress"]
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
