// Counts executed guest instructions in QEMU (TCG plugin, plugin API version 1: Debian 12's
// QEMU 7.2 loads it with `-plugin insn_count.so,out=FILE[,ranges=FILE][,begin=ADDR,end=ADDR]`).
//
// - total: every instruction of every executed translation block.
// - window: the instructions executed from the block at `begin` (included) to the block at `end`
//   (excluded): the harness calls two tiny marker functions around the invoke. Without
//   `begin`, every instruction.
// - ranges: `ranges` lists address ranges, one per line: `START END NAME` (hex, END exclusive;
//   functions from `nm -S` of the ELF). Each instruction inside the window is attributed to the
//   range holding its address (instructions are looked up once, when their block is
//   translated); "other" gets the rest.
// - layers: the ranges named "layer..." (the emitted layer functions, mangled or not) are also
//   contexts: a block that starts at one's first address makes it the current context, and every
//   instruction in the window counts for the current context until the next one is entered, so
//   a layer's count includes what it calls (shared kernels, helpers) and the invoke's few
//   instructions up to the next layer.
// Output lines: `total N`, `window N`, then `range NAME N` per range (sorted by address),
// `range other N`, and `layer NAME N` per layer context entered in the window.
//
// Only the few API functions used are declared here (no QEMU headers on a Debian system).
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
struct qemu_info_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb* tb);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void* userdata);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void* userdata);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb* tb, qemu_plugin_vcpu_udata_cb_t cb,
                                          enum qemu_plugin_cb_flags flags, void* userdata);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb* tb);
struct qemu_plugin_insn* qemu_plugin_tb_get_insn(const struct qemu_plugin_tb* tb, size_t idx);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn* insn);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void* userdata);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

#define MAX_RANGES 4096

struct Range {
  uint64_t start, end;
  char name[128];
  uint64_t count;
  uint64_t inclusive;  // as the current layer context
  int is_layer;
};

// One translated block: its size and its instructions grouped into runs of one range each.
struct Block {
  uint64_t n;
  int is_begin, is_end;
  int context;  // the layer range this block enters (it starts at its first address), or -1
  int runs;
  int range[];  // pairs: range index (-1: other), instruction count
};

static struct Range ranges[MAX_RANGES];
static int n_ranges;
static uint64_t other_count, total, window;
static int armed;
static int current_context = -1;
static uint64_t begin_addr = UINT64_MAX, end_addr = UINT64_MAX;
static char out_path[1024];

static int range_of(uint64_t addr) {
  int lo = 0, hi = n_ranges;  // ranges are sorted by start and do not overlap
  while (lo < hi) {
    const int mid = (lo + hi) / 2;
    if (addr < ranges[mid].start) {
      hi = mid;
    } else if (addr >= ranges[mid].end) {
      lo = mid + 1;
    } else {
      return mid;
    }
  }
  return -1;
}

static void on_exec(unsigned int vcpu, void* userdata) {
  (void)vcpu;
  const struct Block* b = (const struct Block*)userdata;
  if (b->is_end) armed = 0;
  if (b->is_begin) armed = 1;
  total += b->n;
  if (b->context >= 0) current_context = b->context;
  if (armed) {
    window += b->n;
    if (current_context >= 0) ranges[current_context].inclusive += b->n;
    for (int i = 0; i < b->runs; ++i) {
      const int r = b->range[2 * i];
      const uint64_t n = (uint64_t)b->range[2 * i + 1];
      if (r >= 0) {
        ranges[r].count += n;
      } else {
        other_count += n;
      }
    }
  }
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb* tb) {
  (void)id;
  const size_t n = qemu_plugin_tb_n_insns(tb);
  struct Block* b = calloc(1, sizeof *b + 2 * (n + 1) * sizeof(int));
  if (b == NULL) abort();
  b->n = n;
  b->context = -1;
  for (size_t i = 0; i < n; ++i) {
    const uint64_t addr = qemu_plugin_insn_vaddr(qemu_plugin_tb_get_insn(tb, i));
    if (i == 0) {
      b->is_begin = addr == begin_addr;
      b->is_end = addr == end_addr;
    }
    const int r = range_of(addr);
    if (i == 0 && r >= 0 && ranges[r].is_layer && ranges[r].start == addr) b->context = r;
    if (b->runs > 0 && b->range[2 * (b->runs - 1)] == r) {
      ++b->range[2 * (b->runs - 1) + 1];
    } else {
      b->range[2 * b->runs] = r;
      b->range[2 * b->runs + 1] = 1;
      ++b->runs;
    }
  }
  qemu_plugin_register_vcpu_tb_exec_cb(tb, on_exec, QEMU_PLUGIN_CB_NO_REGS, b);
}

static int by_start(const void* a, const void* b) {
  const struct Range* x = a;
  const struct Range* y = b;
  return x->start < y->start ? -1 : x->start > y->start;
}

static void on_atexit(qemu_plugin_id_t id, void* userdata) {
  (void)id;
  (void)userdata;
  FILE* f = out_path[0] ? fopen(out_path, "w") : stderr;
  if (f == NULL) return;
  fprintf(f, "total %llu\nwindow %llu\n", (unsigned long long)total, (unsigned long long)window);
  for (int i = 0; i < n_ranges; ++i) {
    fprintf(f, "range %s %llu\n", ranges[i].name, (unsigned long long)ranges[i].count);
  }
  fprintf(f, "range other %llu\n", (unsigned long long)other_count);
  for (int i = 0; i < n_ranges; ++i) {
    if (ranges[i].inclusive > 0) {
      fprintf(f, "layer %s %llu\n", ranges[i].name, (unsigned long long)ranges[i].inclusive);
    }
  }
  if (f != stderr) fclose(f);
}

// "layer..." or its mangled form "_ZL<length>layer...".
static int is_layer_name(const char* name) {
  if (strncmp(name, "_ZL", 3) == 0) {
    name += 3;
    while (*name >= '0' && *name <= '9') ++name;
  }
  return strncmp(name, "layer", 5) == 0;
}

static int read_ranges(const char* path) {
  FILE* f = fopen(path, "r");
  if (f == NULL) return -1;
  char line[512];
  while (fgets(line, sizeof line, f) != NULL && n_ranges < MAX_RANGES) {
    struct Range* r = &ranges[n_ranges];
    unsigned long long start, end;
    if (sscanf(line, "%llx %llx %127s", &start, &end, r->name) == 3 && end > start) {
      r->start = start;
      r->end = end;
      r->is_layer = is_layer_name(r->name);
      ++n_ranges;
    }
  }
  fclose(f);
  qsort(ranges, (size_t)n_ranges, sizeof ranges[0], by_start);
  return 0;
}

__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id,
                                                               const struct qemu_info_t* info,
                                                               int argc, char** argv) {
  (void)info;
  for (int i = 0; i < argc; ++i) {
    const char* a = argv[i];
    if (strncmp(a, "out=", 4) == 0) {
      snprintf(out_path, sizeof out_path, "%s", a + 4);
    } else if (strncmp(a, "ranges=", 7) == 0) {
      if (read_ranges(a + 7) != 0) {
        fprintf(stderr, "insn_count: cannot read ranges file '%s'\n", a + 7);
        return -1;
      }
    } else if (strncmp(a, "begin=", 6) == 0) {
      begin_addr = strtoull(a + 6, NULL, 0);
    } else if (strncmp(a, "end=", 4) == 0) {
      end_addr = strtoull(a + 4, NULL, 0);
    } else {
      fprintf(stderr, "insn_count: unknown argument '%s' (out=, ranges=, begin=, end=)\n", a);
      return -1;
    }
  }
  armed = begin_addr == UINT64_MAX;  // no markers: the window is the whole run
  qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
  qemu_plugin_register_atexit_cb(id, on_atexit, NULL);
  return 0;
}
