#!/usr/bin/env python3
"""Firmware benchmark: emitted int8 models on Cortex-M4 (QEMU mps2-an386), against TFLM.

For each model: `tinyc emit --target cortex-m4`, cross-compile at -O2 and -Os with
arm-none-eabi-gcc, run one inference in qemu-system-arm with the instruction-counting TCG
plugin (cmake/firmware/insn_count.c, built here with gcc) and report:
- flash: code (.text of the emitted object) and weights (its .rodata: the constant arrays);
- arena (NAME_ARENA_BYTES), RAM (arena + input + output), stack high-water mark of the
  invoke (the harness paints the stack before and scans it after);
- instructions of one NAME_invoke_int8 (between two marker functions), instructions per MAC,
  and per layer (from a third build with ATTRIBUTION_FLAGS, so that every
  layer function keeps its own address range, counted from its entry to the next layer's, with
  what it calls; that build's total is reported too);
- the TFLM + CMSIS-NN figures of ../shared/reference/tflm-cortex-m4.md and the ratios.

Models: the reference specs (trained briefly here: instruction counts do not depend on
accuracy), the committed models/fashion_tiny.tinyc (quantized here) and the stateless
.tflite models of ../shared/data/tflite that emit. Prints one JSON line per model and build
on stdout (progress on stderr) and rewrites the firmware section of BENCHMARKS.md (between
`<!-- firmware:begin -->` and `<!-- firmware:end -->`).

    bench/firmware_bench.py --tinyc build/tinyc [--models sine,person_detect] [--no-write]

Pure standard library. Exit status: 0 success (models that do not emit yet, exit 4, are
listed as skipped); 1 usage error; 2 some model failed.
"""

import argparse
import datetime
import gzip
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile

from bench_markdown import replace_section

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BOARD = os.path.join(REPO, "cmake", "firmware")
PLUGIN_SRC = os.path.join(BOARD, "insn_count.c")
# The per-layer build: GCC inlines no function that is not declared inline (the layer functions
# are not; the kernels' helpers are), so each layer keeps its own function.
ATTRIBUTION_FLAGS = ("-fno-inline-functions-called-once -fno-inline-small-functions "
                     "-fno-inline-functions")
CFLAGS = "-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16"
CXXFLAGS = (CFLAGS + " -std=c++17 -fno-exceptions -fno-rtti -ffunction-sections -fdata-sections"
            " -Wall -Wextra -Werror")
BEGIN_MARK, END_MARK = "<!-- firmware:begin -->", "<!-- firmware:end -->"
PAINT = 0xDEADBEEF

# name -> (spec or model file, data, training epochs); None epochs: a committed model.
TINYC_MODELS = {
    "sine": ("models/sine.json", "tasks/sine.csv", 20),
    "digits_mlp": ("models/digits_mlp.json", "tasks/digits.csv", 3),
    "fashion_mlp": ("models/fashion_mlp.json", "fashion", 1),
    "fashion_cnn": ("models/fashion_cnn.json", "fashion", 1),
    "kws_like": ("models/kws_like.json", "kws", 3),
    "fashion_tiny": ("models/fashion_tiny.tinyc", "fashion", None),
}
# .tflite models with int8 input and output (this harness feeds int8 bytes); test_conv_model has
# float32 I/O and is measured by bench/tflite_bench.py instead.
TFLITE_MODELS = ["hello_world_int8", "micro_speech_quantized", "person_detect",
                 "network_tester_model"]


def log(msg):
    print("firmware_bench: " + msg, file=sys.stderr, flush=True)


class Unsupported(Exception):
    """tinyc emit exits 4: the model does not emit yet."""


def run(cmd, cwd=None, timeout=1800):
    r = subprocess.run(cmd, shell=True, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError("command failed (%d): %s\n%s%s" % (r.returncode, cmd, r.stdout[-2000:],
                                                               r.stderr[-2000:]))
    return r.stdout


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tinyc", required=True, help="path to the tinyc binary")
    p.add_argument("--models", help="comma-separated subset of: " +
                   ",".join(list(TINYC_MODELS) + TFLITE_MODELS))
    p.add_argument("--shared", default=os.path.join(os.path.dirname(REPO), "shared"),
                   help="the shared/ directory (default: <repo>/../shared)")
    p.add_argument("--fashion", default="/usr/share/datasets/fashion-mnist",
                   help="Fashion-MNIST IDX directory")
    p.add_argument("--work", help="working directory (default: a temporary one)")
    p.add_argument("--out", default=os.path.join(REPO, "BENCHMARKS.md"))
    p.add_argument("--no-write", action="store_true", help="do not touch BENCHMARKS.md")
    p.add_argument("--from-json", metavar="FILE",
                   help="only rewrite BENCHMARKS.md from the JSON lines of an earlier run")
    a = p.parse_args(argv)
    known = list(TINYC_MODELS) + TFLITE_MODELS
    a.models = [m.strip() for m in a.models.split(",")] if a.models else known
    bad = [m for m in a.models if m not in known]
    if bad:
        p.error("--models: unknown %s" % ",".join(bad))
    a.tinyc = os.path.abspath(a.tinyc)
    return a


# ---------------------------------------------------------------- inputs

def first_row(data):
    """The raw features of the first row `tinyc predict --data` reads."""
    if os.path.isdir(data):
        for name in ("t10k-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte"):
            path = os.path.join(data, name)
            if os.path.exists(path):
                opener = gzip.open if name.endswith(".gz") else open
                with opener(path, "rb") as f:
                    head = f.read(16)
                    n = int.from_bytes(head[8:12], "big") * int.from_bytes(head[12:16], "big")
                    return [float(b) for b in f.read(n)]
        raise RuntimeError("no t10k images in " + data)
    with open(data) as f:
        header = f.readline().strip().split(",")
        row = f.readline().strip().split(",")
    try:
        [float(v) for v in header if v not in ("train", "val", "test")]
        raise RuntimeError("%s: header row expected" % data)
    except ValueError:
        pass
    drop = {"split"}
    label = next((c for c in ("label", "target") if c in header), None)
    drop.add(label or [c for c in header if c != "split"][-1])
    return [float(v) for c, v in zip(header, row) if c not in drop]


def prepare(a, name, work):
    """(model path, kind, input) where kind is 'float' (raw row) or 'int8' (bytes)."""
    if name in TFLITE_MODELS:
        base = os.path.join(a.shared, "data", "tflite", name)
        return base + ".tflite", "int8", base + ".inputs.bin"
    spec, data, epochs = TINYC_MODELS[name]
    if data == "fashion":
        data = a.fashion
    elif data == "kws":
        data = os.path.join(work, "kws.csv")
        if not os.path.exists(data):
            run("%s data kws --seed 1 -o %s" % (a.tinyc, data))
    else:
        data = os.path.join(a.shared, "data", data)
    model = os.path.join(work, name + "_int8.tinyc")
    if not os.path.exists(model):
        src = os.path.join(REPO, spec)
        if epochs is not None:
            trained = os.path.join(work, name + ".tinyc")
            log("training %s (%d epochs)" % (name, epochs))
            run("%s train %s --data %s -o %s --epochs %d --threads 2" % (a.tinyc, src, data,
                                                                        trained, epochs))
            src = trained
        run("%s compress %s --data %s -o %s --quantize int8" % (a.tinyc, src, data, model))
    return model, "float", first_row(data)


# ---------------------------------------------------------------- firmware

HARNESS = r"""// Generated by bench/firmware_bench.py: one inference between two marker functions.
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "net.h"

__attribute__((noinline, noipa)) void bench_begin(void) { __asm__ volatile("nop"); }
__attribute__((noinline, noipa)) void bench_end(void) { __asm__ volatile("nop\n\tnop"); }

%(input)s
static int8_t input_q[NET_INPUT_SIZE];
static int8_t output_q[NET_OUTPUT_SIZE];

int main(void) {
  %(prepare)s
  // Paint 256 KiB of stack below this frame, run, and find the deepest word overwritten.
  uint32_t* sp;
  __asm__ volatile("mov %%0, sp" : "=r"(sp));
  volatile uint32_t* const low = sp - 65536;
  for (volatile uint32_t* p = low; p < sp - 16; ++p) *p = 0x%(paint)08xu;
  bench_begin();
  const int rc = net_invoke_int8(input_q, output_q);
  bench_end();
  volatile uint32_t* p = low;
  while (p < sp - 16 && *p == 0x%(paint)08xu) ++p;
  printf("stack %%lu\n", (unsigned long)((sp - p) * 4));
  printf("output");
  for (int i = 0; i < NET_OUTPUT_SIZE; ++i) printf(" %%d", output_q[i]);
  printf("\n");
  return rc;
}
"""


def harness(kind, inp, input_size):
    if kind == "int8":
        with open(inp, "rb") as f:
            raw = f.read(input_size)
        values = ", ".join(str(b - 256 if b > 127 else b) for b in raw)
        return HARNESS % {"input": "static const int8_t kInput[NET_INPUT_SIZE] = {%s};" % values,
                          "prepare": "memcpy(input_q, kInput, sizeof input_q);", "paint": PAINT}
    values = ", ".join(repr(float(v)) + "f" for v in inp)
    return HARNESS % {"input": "static const float kInput[NET_INPUT_SIZE] = {%s};" % values,
                      "prepare": "net_quantize_input(kInput, input_q);", "paint": PAINT}


def section_sizes(obj):
    sizes = {"text": 0, "rodata": 0, "bss": 0, "data": 0}
    for line in run("arm-none-eabi-size -A " + obj).splitlines():
        f = line.split()
        if len(f) < 2 or not f[1].isdigit():
            continue
        for key in sizes:
            if f[0] == "." + key or f[0].startswith("." + key + "."):
                sizes[key] += int(f[1])
    return sizes


def functions(elf):
    """[(start, end, name)] of the functions of an ELF (nm -S, demangled, Thumb bit cleared)."""
    out = []
    for line in run("arm-none-eabi-nm -S -C --defined-only " + elf).splitlines():
        m = re.match(r"([0-9a-f]+) ([0-9a-f]+) [tTwW] (.+)$", line)
        if not m:
            continue
        start = int(m.group(1), 16) & ~1
        name = m.group(3).split("(")[0].strip()
        clone = re.search(r"\[clone ([^\]]+)\]", m.group(3))
        if clone:
            name += clone.group(1)
        out.append((start, start + int(m.group(2), 16), name.replace(" ", "_")))
    return out


def build_and_count(d, opt, plugin, extra="", tag=""):
    obj = os.path.join(d, "net%s.o" % tag)
    elf = os.path.join(d, "fw%s.elf" % tag)
    run("arm-none-eabi-g++ %s %s %s -c %s/net.cpp -o %s" % (CXXFLAGS, opt, extra, d, obj))
    run("arm-none-eabi-gcc %s -std=c11 -O2 -Wall -Wextra -Werror -I%s -c %s/main.c -o %s/main.o"
        % (CFLAGS, d, d, d))
    run("arm-none-eabi-gcc %s -O2 --specs=rdimon.specs -nostartfiles -L%s -Tmps2.ld %s/startup.c "
        "%s/main.o %s -lm -Wl,--gc-sections -o %s" % (CFLAGS, BOARD, BOARD, d, obj, elf))
    funcs = functions(elf)
    addr = {name: start for start, _, name in funcs}
    ranges = os.path.join(d, "ranges%s.txt" % tag)
    with open(ranges, "w") as f:
        for start, end, name in funcs:
            f.write("%x %x %s\n" % (start, end, name))
    counts = os.path.join(d, "counts%s.txt" % tag)
    out = run("timeout 600 qemu-system-arm -M mps2-an386 -nographic -monitor none "
              "-semihosting-config enable=on,target=native -plugin %s,out=%s,ranges=%s,"
              "begin=0x%x,end=0x%x -kernel %s </dev/null"
              % (plugin, counts, ranges, addr["bench_begin"], addr["bench_end"], elf))
    result = {"sizes": section_sizes(obj), "ranges": {}, "layers": {}}
    with open(counts) as f:
        for line in f:
            k = line.split()
            if k[0] in ("range", "layer"):
                table = result[k[0] + "s"]
                table[k[1]] = table.get(k[1], 0) + int(k[2])
            else:
                result[k[0]] = int(k[1])
    result["stack"] = int(re.search(r"stack (\d+)", out).group(1))
    result["output"] = [int(v) for v in re.search(r"output([^\n]*)", out).group(1).split()]
    return result


# ---------------------------------------------------------------- TFLM figures

def tflm_figures(shared):
    """{(model, opt): row} of the CMSIS-NN rows of tflm-cortex-m4.md."""
    path = os.path.join(shared, "reference", "tflm-cortex-m4.md")
    rows = {}
    with open(path) as f:
        for line in f:
            c = [x.strip() for x in line.strip().strip("|").split("|")]
            if len(c) == 10 and c[1] == "CMSIS-NN":
                num = lambda s: float(s.replace(",", ""))  # noqa: E731
                rows[(c[0], c[2])] = {"lib": num(c[3]), "arena": num(c[6]), "stack": num(c[7]),
                                      "instructions": num(c[8])}
    return rows


def bench_model(a, name, work, plugin):
    model, kind, inp = prepare(a, name, work)
    d = os.path.join(work, name)
    os.makedirs(d, exist_ok=True)
    emit = subprocess.run("%s emit %s --target cortex-m4 -o %s --name net --json" % (a.tinyc, model, d),
                          shell=True, capture_output=True, text=True)
    if emit.returncode == 4:
        raise Unsupported(emit.stderr.strip().splitlines()[-1])
    if emit.returncode != 0:
        raise RuntimeError("tinyc emit %s failed: %s" % (name, emit.stderr.strip()))
    report = json.loads(emit.stdout)
    with open(os.path.join(d, "main.c"), "w") as f:
        f.write(harness(kind, inp, report["input_bytes"]))
    results = []
    for opt in ("-O2", "-Os"):
        log("%s %s" % (name, opt))
        r = build_and_count(d, opt, plugin)
        results.append((opt, r))
    attributed = build_and_count(d, "-O2", plugin, ATTRIBUTION_FLAGS, "_attr")
    if kind == "int8":
        with open(inp.replace(".inputs.bin", ".outputs.bin"), "rb") as f:
            raw = f.read(len(results[0][1]["output"]))
        expected = [b - 256 if b > 127 else b for b in raw]
        for opt, r in results:
            if r["output"] != expected:
                raise RuntimeError("%s %s: outputs %s differ from TFLM's %s" % (name, opt,
                                   r["output"], expected))
    # Each layer function's count as the plugin's layer context: what it calls (shared
    # kernels, im2col and border helpers) counts with it.
    with open(os.path.join(d, "net.cpp")) as f:
        windows = dict((n, "%sx%s" % (h, w)) for n, h, w in
                       re.findall(r"// (\w+): int8 conv2d (\d+)x(\d+)", f.read()))
    layers = []
    for layer in report["layers"]:
        fn = layer.get("function") or ""
        # Its helpers ("{fn}_im2col", ...) are layer contexts of their own: summed with it.
        n = sum(v for k, v in attributed["layers"].items()
                if fn and (k == fn or k.startswith(fn + "_") or k.startswith(fn + "."))) or None
        layers.append({"name": layer["name"], "type": layer["type"], "macs": layer["macs"],
                       "instructions": n,
                       "per_mac": round(n / layer["macs"], 3) if n and layer["macs"] else None,
                       "window": windows.get(layer["name"]) if layer["type"] == "conv2d" else None,
                       # MACs per output value (an int8 output value is a byte)
                       "macs_per_output": (layer["macs"] // layer["output_bytes"]
                                           if layer.get("output_bytes") else None)})
    tflm = tflm_figures(a.shared)
    lines = []
    for opt, r in results:
        row = {"model": name, "target": "cortex-m4", "opt": opt, "macs": report["macs"],
               "code_bytes": r["sizes"]["text"], "weights_bytes": r["sizes"]["rodata"],
               "arena_bytes": report["arena_bytes"], "arena_lower_bound": report["arena_lower_bound"],
               "ram_bytes": report["ram_bytes"], "stack_bytes": r["stack"],
               "instructions": r["window"],
               "instructions_per_mac": round(r["window"] / report["macs"], 3) if report["macs"] else None,
               "verified_against_tflm": kind == "int8"}
        peer = tflm.get((name, opt))
        if peer:
            row["tflm_cmsis_nn"] = peer
            row["instructions_ratio"] = round(r["window"] / peer["instructions"], 3)
            row["ram_ratio"] = round(report["ram_bytes"] / peer["arena"], 3)
            row["code_ratio"] = round(r["sizes"]["text"] / peer["lib"], 3)
        if opt == "-O2":
            row["layers"] = layers
            row["attributed_build_instructions"] = attributed["window"]
        lines.append(row)
    return lines


# ---------------------------------------------------------------- report

def fmt_int(v):
    return "{:,}".format(int(v))


def goals(rows):
    """Lines on the issue's speed and size targets, from the rows."""
    def row(model, opt):
        return next((r for r in rows if r["model"] == model and r["opt"] == opt), None)

    def verdict(ok):
        return "met" if ok else "NOT met"

    out = []
    big = [(r["model"], l) for r in rows if "layers" in r for l in r["layers"]
           if l["macs"] >= 10000 and l["per_mac"] and l["type"] in ("dense", "conv2d")]
    # The conv2d goal is for 1x1 and 3x3 windows.
    for kind, limit in (("dense", 1.5), ("conv2d", 1.0)):
        layers = [(m, l) for m, l in big if l["type"] == kind and
                  (kind != "conv2d" or l.get("window") in ("1x1", "3x3"))]
        if layers:
            worst = max(l["per_mac"] for _, l in layers)
            best = min(l["per_mac"] for _, l in layers)
            # Exact counts, not the rounded ratios, decide.
            under = sum(1 for _, l in layers if l["instructions"] <= limit * l["macs"])
            out.append("- int8 %s layers%s of >= 10,000 MACs at <= %.1f instr/MAC (-O2): %s (%.3f "
                       "to %.3f over %d layers; %d at or under)" % (
                           kind, " (1x1 and 3x3)" if kind == "conv2d" else "", limit,
                           verdict(under == len(layers)), best, worst, len(layers), under))
            if kind == "conv2d":
                # Each output needs ceil(K / 2) SMLADs and its requantization and store, so
                # layers with few MACs per output K cannot get close to the SMLAD limit.
                out.append("  - by MACs per output K: " + "; ".join(
                    "%s %s %s K %s: %.3f" % (m, l["name"], l.get("window"), l.get("macs_per_output"),
                                             l["per_mac"])
                    for m, l in sorted(layers, key=lambda ml: (ml[1].get("macs_per_output") or 0,
                                                              ml[1]["per_mac"]))))
                # Per output: ceil(K / 2) SMLADs, then SMMLAR, ASR (the shift differs per
                # channel: a register), SSAT and STRB, before any load or loop instruction.
                floor = [(m, l) for m, l in layers if l.get("macs_per_output") and
                         (l["macs_per_output"] + 1) // 2 + 4 >= l["macs_per_output"]]
                if floor:
                    out.append("  - out of reach: %s (K <= 9: ceil(K / 2) SMLADs and the "
                               "requantization's SMMLAR, ASR, SSAT and STRB alone take K "
                               "instructions per output, before any load)" % ", ".join(
                                   "%s %s" % (m, l["name"]) for m, l in floor))
    for model in ("micro_speech_quantized", "person_detect"):
        r = row(model, "-O2")
        if r and "instructions_ratio" in r:
            out.append("- %s instructions <= 0.5x TFLM + CMSIS-NN (-O2): %s (%.3fx)" % (
                model, verdict(r["instructions_ratio"] <= 0.5), r["instructions_ratio"]))
    r = row("fashion_mlp", "-Os")
    if r:
        out.append("- fashion_mlp `.text` at -Os <= 4 KB: %s (%s B)" % (
            verdict(r["code_bytes"] <= 4096), fmt_int(r["code_bytes"])))
    for r in rows:
        if r["opt"] == "-O2" and "ram_ratio" in r:
            limit = 0.75 if r["model"] == "person_detect" else 0.9
            out.append("- %s RAM <= %.2fx the TFLM arena: %s (%.3fx; <= 1x: %s)" % (
                r["model"], limit, verdict(r["ram_ratio"] <= limit), r["ram_ratio"],
                verdict(r["ram_ratio"] <= 1.0)))
    return out


def render(rows, when, skipped):
    out = [BEGIN_MARK, "## Firmware: emitted int8 models on Cortex-M4 (QEMU mps2-an386)", "",
           "Generated by `bench/firmware_bench.py`; do not edit this section by hand.", "",
           "- Date: %s; `arm-none-eabi-gcc` %s, flags `%s`, linked with `--gc-sections`" % (
               when, run("arm-none-eabi-gcc -dumpversion").strip(), CFLAGS),
           "- instructions: executed guest instructions of one `net_invoke_int8` (case 0), counted "
           "by the TCG plugin `cmake/firmware/insn_count.c` between two marker functions (a few "
           "call instructions included); instructions are not cycles.",
           "- code: `.text` of the emitted object (all its functions); weights: its `.rodata` "
           "(weights, biases, requantization constants, tables); RAM = arena + input + output; "
           "stack: deepest stack use of the invoke (painted).",
           "- TFLM: the TFLM + CMSIS-NN rows of `../shared/reference/tflm-cortex-m4.md` "
           "(same compiler, same opt level); ratio = tinyc / TFLM. .tflite models: outputs "
           "identical to TFLM's for case 0 (checked).", "",
           "| model | opt | MACs | code (B) | weights (B) | arena (B) | RAM (B) | stack (B) | "
           "instructions | instr/MAC | TFLM instr | instr ratio | TFLM arena | RAM ratio | "
           "code / TFLM lib |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        p = r.get("tflm_cmsis_nn")
        out.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            r["model"], r["opt"], fmt_int(r["macs"]), fmt_int(r["code_bytes"]),
            fmt_int(r["weights_bytes"]), fmt_int(r["arena_bytes"]), fmt_int(r["ram_bytes"]),
            fmt_int(r["stack_bytes"]), fmt_int(r["instructions"]), r["instructions_per_mac"],
            fmt_int(p["instructions"]) if p else "-", "%.3fx" % r["instructions_ratio"] if p else "-",
            fmt_int(p["arena"]) if p else "-", "%.3fx" % r["ram_ratio"] if p else "-",
            "%.3fx" % r["code_ratio"] if p else "-"))
    out += ["", "### Goals (issue 5)", ""] + goals(rows)
    out += ["", "### Instructions per layer (-O2)", "",
            "Built again with `%s` so that each layer function " % ATTRIBUTION_FLAGS +
            "keeps its address range (its total is given). A layer's count runs from the entry "
            "of its function to the next layer's: what it calls (shared kernels, im2col and "
            "depthwise border helpers) counts with it.",
            ""]
    for r in rows:
        if "layers" not in r:
            continue
        out.append("- **%s** (total %s in this build): %s" % (
            r["model"], fmt_int(r["attributed_build_instructions"]), "; ".join(
                "%s %s %s MACs %s%s" % (
                    l["name"], l["type"], fmt_int(l["macs"]),
                    "inlined into the invoke" if l["instructions"] is None
                    else fmt_int(l["instructions"]) + " instr",
                    " (%.2f/MAC)" % l["per_mac"] if l["per_mac"] else "")
                for l in r["layers"] if l["macs"] or l["instructions"])))
    if skipped:
        out += ["", "Not measured (the model does not emit yet): " + "; ".join(
            "%s: %s" % (n, why) for n, why in skipped)]
    out.append(END_MARK)
    return "\n".join(out) + "\n"


def write_markdown(path, section):
    replace_section(path, section, BEGIN_MARK, END_MARK)


def main(argv):
    a = parse_args(argv)
    if a.from_json:
        with open(a.from_json) as f:
            rows = [json.loads(line) for line in f if line.startswith("{")]
        when = datetime.datetime.utcfromtimestamp(os.path.getmtime(a.from_json)).strftime(
            "%Y-%m-%d %H:%M UTC")
        write_markdown(a.out, render(rows, when, [(m, "does not emit yet (exit 4)")
                                                  for m in TFLITE_MODELS
                                                  if m not in {r["model"] for r in rows}]))
        return 0
    work = a.work or tempfile.mkdtemp(prefix="tinyc_fwbench_")
    os.makedirs(work, exist_ok=True)
    plugin = os.path.join(work, "insn_count.so")
    run("gcc -O2 -shared -fPIC -o %s %s" % (plugin, shlex.quote(PLUGIN_SRC)))
    rows, failed, skipped = [], 0, []
    for name in a.models:
        try:
            for row in bench_model(a, name, work, plugin):
                print(json.dumps(row), flush=True)
                rows.append(row)
        except Unsupported as e:
            skipped.append((name, str(e)))
            log("%s skipped: %s" % (name, e))
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            failed += 1
            log("%s failed: %s" % (name, e))
    if rows and not a.no_write:
        when = datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M UTC")
        write_markdown(a.out, render(rows, when, skipped))
        log("wrote " + a.out)
    return 2 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
