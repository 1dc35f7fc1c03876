// int8 conv2d for targets with the DSP extension (Cortex-M4/M7/M33), bit-exact with the int8
// reference executor: SMLAD does two 16-bit multiply-accumulates per instruction.
//
// Per block of kPixels consecutive output pixels (raster order), the taps of each pixel are
// gathered once into the int16 scratch ("im2col") with the input zero point subtracted, so
// that taps in the padding are plain zeros and the bias needs no correction. Then each filter
// runs over the block: one word of 4 weights is loaded and unpacked by SXTB16 into (w0, w2)
// and (w1, w3) once, and feeds 2 SMLADs per pixel, the pixels' accumulators staying in
// registers; each pixel's two pairs are adjacent in the scratch and come in with one LDRD
// (load_pair): 24 instructions per 24 MACs in the loop over groups of 4 taps. The scratch
// stores each pixel's taps in the same order, (x0, x2), (x1, x3), and interleaves the pixels
// group by group, so one pointer walks all of them with immediate offsets. Rows of weights are
// padded with zeros to a multiple of 4 taps. The block's outputs are written after all its
// scratch is gathered, so the output may overlap the input in raster order.
//
// Where the requantization allows it (doubled_constants), the accumulators are doubled (the
// gathered inputs, or QDADD after the loop) and each output takes SMMLAR, ASR and SSAT
// (output_int8_doubled). Where the taps also come a word at a time in a multiple of 8, blocks
// are of 7 pixels and the loop is in assembly, 16 taps per iteration where they are a multiple
// of 16, else 8 (emit_mac_loop: 98 instructions per 112 MACs, 50 per 56); where SSAT alone
// clamps the outputs, the whole loop over filters is (emit_filter_loop). 1x1 layers of that
// kind share their block kernels whatever their shapes (emit_pointwise_kernel).
//
// A conv2d over one input channel with at most 3 window rows of at most 4 (first layers on
// images) keeps each pixel's taps in registers across its filters (emit_few_taps_conv).
// A depthwise_conv2d with one input channel (e.g. micro_speech's first layer) is a conv2d with
// its multiplier as filters; it runs without scratch, its window rows read straight from the
// input (kernels_int8_dsp_rows.cpp), as does a conv2d over one channel with a larger window.
// Other depthwise layers with multiplier 1 and a multiple of 4 channels run 4 channels at a time
// (kernels_int8_dsp_depthwise.cpp).
#include <algorithm>

#include <fmt/format.h>

#include "emit/emit_internal.h"
#include "emit/window_code.h"
#include "layers/int8_util.h"
#include "tinyc/error.h"

namespace tinyc {
namespace {

// Output pixels per block and filters per step of the kernel in C. Measured on cortex-m4
// (fashion_tiny, micro_speech) against 2x2, 3x2, 2x3, 4x1 and 1x4: one filter over 6 pixels
// (6 accumulators, 2 unpacked weights, 2 inputs, 3 pointers: the 13 free core registers) is
// fastest. Per group of 4 taps: 3 instructions unpack the weights, 6 LDRDs load inputs and 12
// SMLADs do 24 MACs.
constexpr int64_t kPixels = 6;
constexpr int64_t kFilters = 1;
// Pixels per block where the loop is in assembly (emit_mac_loop): one more register is free
// there.
constexpr int64_t kAsmPixels = 7;
// Ends the scratch of the assembly loop (emit_mac_loop): 257 in both halves, which no input
// pair can hold (|x - zx| <= 255, and doubled inputs are even). A Thumb-2 immediate.
constexpr uint32_t kEndMarker = 0x01010101u;

struct ConvShape {
  Window g;
  int64_t filters = 0;
  int64_t taps = 0;    // kh * kw * in_c
  int64_t padded = 0;  // taps rounded up to a multiple of 4
  bool depthwise = false;
  // in_c % 4 == 0: taps gathered a word at a time by SXTAB16 as (x0, x2), (x1, x3), the
  // block's pixels interleaved group by group. Otherwise one by one in order, one row of
  // `padded` int16 per pixel, and the weights of each group stored as w0, w2, w1, w3.
  bool interleaved = false;
  // Pairs in SXTAB16 order (x0, x2), (x1, x3) with weights as they are: interleaved, or rows of
  // the window a multiple of 4 taps long (gathered a word at a time where inside the image).
  bool sx_order = false;
};

// Whether the taps come a word at a time in groups of 8: emit_mac_loop's shape condition (it
// also needs doubled requantization).
bool asm_loop_shape(const ConvShape& s) { return s.interleaved && s.padded % 8 == 0; }

int64_t block_pixels(const ConvShape& s, bool asm_loop) {
  return std::min(asm_loop ? kAsmPixels : kPixels, s.g.out_pixels());
}

bool dsp_conv_applies(const Target& t, const Model& m, const Op& op) {
  if (!t.dsp) return false;
  if (op.type == OpType::kConv2d) return true;
  if (op.type == OpType::kDepthwiseConv2d) return m.tensor(op.inputs[0]).shape[3] == 1;
  return false;
}

ConvShape conv_shape(const Model& m, const Op& op) {
  const Tensor& xt = m.tensor(op.inputs[0]);
  const Tensor& wt = m.tensor(op.inputs[1]);
  ConvShape s;
  s.depthwise = op.type == OpType::kDepthwiseConv2d;
  s.g = make_window(op, xt.shape, {wt.shape[1], wt.shape[2]}, op_pair(op, "stride", {1, 1}),
                    op_same_padding(op));
  s.filters = s.depthwise ? wt.shape[3] : wt.shape[0];
  s.taps = int64_t{s.g.k_h} * s.g.k_w * s.g.in_c;
  s.padded = (s.taps + 3) / 4 * 4;
  s.interleaved = s.g.in_c % 4 == 0;
  s.sx_order = s.interleaved || (int64_t{s.g.k_w} * s.g.in_c) % 4 == 0;
  return s;
}

}  // namespace

void emit_offset(CodeWriter& src, int32_t zero_point) {
  src.linef("const int32_t offset = static_cast<int32_t>(0x{:08x}u);  // {}: minus the zero "
            "point, in both halves", static_cast<uint16_t>(-zero_point) * 0x10001u, -zero_point);
}

namespace {

// Writes the pairs (x0, x2) to `even` and (x1, x3) to `odd` of the int8 word `v` minus the zero
// point (`offset`: its negation in both halves), doubled where `doubled`.
void emit_unpack_word(CodeWriter& src, const std::string& even, const std::string& odd,
                      bool doubled) {
  if (doubled) {
    src.line("const int32_t a = __sxtab16(offset, v), b = sxtab16_ror8(offset, v);");
    src.linef("{} = __sadd16(a, a);", even);
    src.linef("{} = __sadd16(b, b);", odd);
  } else {
    src.linef("{} = __sxtab16(offset, v);", even);
    src.linef("{} = sxtab16_ror8(offset, v);", odd);
  }
}

// Writes `{name}(x, d, step, pixel)` (interleaved) or `{name}(x, d, pixel)`: the taps of output
// pixel `pixel` minus the input zero point as int16, in the order of ConvShape::sx_order.
void emit_im2col(EmitContext& ctx, const ConvShape& s, int32_t zx, const std::string& name,
                 bool doubled) {
  CodeWriter& src = ctx.src;
  const Window& g = s.g;
  const bool padded = g.pad_top > 0 || g.pad_left > 0 ||
                      (g.out_h - 1) * g.stride_h - g.pad_top + g.k_h > g.in_h ||
                      (g.out_w - 1) * g.stride_w - g.pad_left + g.k_w > g.in_w;
  const bool words = s.interleaved;
  src.linef("// The taps of output pixel `pixel` minus the input zero point ({}){}, as int16{}.", zx,
            doubled ? ", doubled" : "",
            words ? " pairs (x0, x2), (x1, x3) per group of 4 taps, group k at d[k * step]"
            : s.sx_order ? " pairs (x0, x2), (x1, x3) per group of 4 taps"
                         : fmt::format(" in order, then zeros up to {}", s.padded));
  if (padded) src.line("// Taps in the padding are 0.");
  src.open(words ? fmt::format("static void {}(const int8_t* x, int32_t* d, int step, int pixel)", name)
                 : fmt::format("static void {}(const int8_t* x, int32_t* d, int pixel)", name));
  src.linef("const int oy = pixel / {}, ox = pixel % {};", g.out_w, g.out_w);
  auto start = [](const char* o, int stride, int pad) {
    return times(o, stride) + (pad > 0 ? fmt::format(" - {}", pad) : std::string());
  };
  src.linef("const int iy0 = {}, ix0 = {};", start("oy", g.stride_h, g.pad_top),
            start("ox", g.stride_w, g.pad_left));
  const bool sx = s.sx_order;
  auto unpack_word = [&](const std::string& even, const std::string& odd) {
    emit_unpack_word(src, even, odd, doubled);
  };
  // One tap's value from int8 `x`.
  auto tap = [&](const std::string& x) {
    return doubled ? fmt::format("2 * ({} - ({}))", x, zx) : fmt::format("{} - ({})", x, zx);
  };
  // Where tap k goes: in order, or at its place in (x0, x2), (x1, x3).
  const std::string slot = sx ? "sx_slot(k++)" : "k++";
  if (sx) emit_offset(src, zx);
  if (words) {
    // A window inside the image (every window where there is no padding): its rows are
    // k_w * in_c consecutive values, a word at a time without per-tap checks.
    if (padded) {
      src.open(fmt::format("if (iy0 >= 0 && iy0 + {} <= {} && ix0 >= 0 && ix0 + {} <= {})",
                           g.k_h, g.in_h, g.k_w, g.in_w));
    }
    src.linef("const int8_t* r = x + {};",
              plus(times("iy0", int64_t{g.in_w} * g.in_c), times("ix0", g.in_c)));
    src.open(fmt::format("for (int ky = 0; ky < {}; ++ky, r += {})", g.k_h,
                         int64_t{g.in_w} * g.in_c));
    // Up to 4 words per iteration (GCC does not unroll at -O2): 2 instructions less per word.
    const int row_words = g.k_w * g.in_c / 4;
    const int unroll = row_words % 4 == 0 ? 4 : row_words % 2 == 0 ? 2 : 1;
    src.open(fmt::format("for (int i = 0; i < {}; i += {}, d += {})", g.k_w * g.in_c, 4 * unroll,
                         times("step", unroll)));
    for (int j = 0; j < unroll; ++j) {
      src.open("");
      src.linef("const int32_t v = read_s8x4(r + {});", plus("i", std::to_string(4 * j)));
      const std::string at = j == 0 ? "0" : times("step", j);
      unpack_word(fmt::format("d[{}]", at), fmt::format("d[{}]", j == 0 ? "1" : plus(at, "1")));
      src.close();
    }
    src.close();
    src.close();
    if (!padded) {
      src.close();
      return;
    }
    src.line("return;");
    src.close();
  }
  if (!words) src.line("int k = 0;");
  src.open(fmt::format("for (int ky = 0; ky < {}; ++ky)", g.k_h));
  src.line("const int iy = iy0 + ky;");
  if (padded) {
    src.open(fmt::format("if (iy < 0 || iy >= {})", g.in_h));
    if (words) {
      src.linef("for (int i = 0; i < {}; ++i, d += step) d[0] = d[1] = 0;", g.k_w * g.in_c / 4);
    } else {
      src.linef("for (int i = 0; i < {}; ++i) store_s16(d, k++, 0);", g.k_w * g.in_c);
    }
    src.line("continue;");
    src.close();
  }
  src.linef("const int8_t* row = x + {};", times("iy", int64_t{g.in_w} * g.in_c));
  if (!words) {
    // Most windows lie inside the image: their rows are copied without per-tap checks.
    if (padded) src.open(fmt::format("if (ix0 >= 0 && ix0 + {} <= {})", g.k_w, g.in_w));
    src.linef("const int8_t* r = row + {};", times("ix0", g.in_c));
    if (sx) {
      src.open(fmt::format("for (int i = 0; i < {}; i += 4)", g.k_w * g.in_c));
      src.line("const int32_t v = read_s8x4(r + i);");
      unpack_word("d[(k + i) / 2]", "d[(k + i) / 2 + 1]");
      src.close();
    } else {
      src.linef("for (int i = 0; i < {}; ++i) store_s16(d, k + i, {});", g.k_w * g.in_c,
                tap("r[i]"));
    }
    src.linef("k += {};", g.k_w * g.in_c);
    if (padded) {
      src.line("continue;");
      src.close();
    }
  }
  if (!words && !padded) {
    src.close();  // every row lies inside the image
    src.close();
    return;
  }
  src.open(fmt::format("for (int kx = 0; kx < {}; ++kx)", g.k_w));
  src.line("const int ix = ix0 + kx;");
  if (words) {
    if (padded) {
      src.open(fmt::format("if (ix < 0 || ix >= {})", g.in_w));
      src.linef("for (int c = 0; c < {}; c += 4, d += step) d[0] = d[1] = 0;", g.in_c);
      src.line("continue;");
      src.close();
    }
    src.open(fmt::format("for (int c = 0; c < {}; c += 4, d += step)", g.in_c));
    src.linef("const int32_t v = read_s8x4(row + {} + c);", times("ix", g.in_c));
    unpack_word("d[0]", "d[1]");
    src.close();
  } else {
    if (padded) {
      src.open(fmt::format("if (ix < 0 || ix >= {})", g.in_w));
      src.linef("for (int c = 0; c < {}; ++c) store_s16(d, {}, 0);", g.in_c, slot);
      src.line("continue;");
      src.close();
    }
    src.linef("for (int c = 0; c < {}; ++c) store_s16(d, {}, {});", g.in_c, slot,
              tap(fmt::format("row[{} + c]", times("ix", g.in_c))));
  }
  src.close();
  src.close();
  if (!words && s.padded != s.taps) src.linef("for (; k < {}; ++k) store_s16(d, k, 0);", s.padded);
  src.close();
}

// Whether the pointwise kernels apply to `s`: a 1x1 conv2d with stride 1 and no padding over a
// multiple of 8 input channels (blocks of 7 and 6 pixels, then one of the rest).
bool pointwise_applies(const ConvShape& s) {
  const Window& g = s.g;
  return !s.depthwise && g.k_h == 1 && g.k_w == 1 && g.stride_h == 1 && g.stride_w == 1 &&
         g.pad_top == 0 && g.pad_left == 0 && g.in_h == g.out_h && g.in_w == g.out_w &&
         g.in_c % 8 == 0;
}

// The loop of the DSP kernels with doubled requantization: acc0..acc{np-1} += the filter's
// weights at `w` (4 `groups` per iteration: 8 or 16) times the np pixels' inputs at `s` (group
// g of 4 taps of pixel p at s[2 np g + 2 p], (x0, x2) then (x1, x3)) until s reaches the
// scratch's end marker (kEndMarker, written after the last group); w and s advance.
//
// Written in assembly: with 7 pixels it keeps 13 values in registers (7 accumulators, 2
// pointers, 2 weights, 2 inputs), which GCC 12 spilled from the same loop in C. An end pointer
// would be a 14th: with -fno-omit-frame-pointer only 13 are free. So the loop stops on data
// instead: each iteration ends by loading pixel 0's first pair of the next one, and the marker
// in its place ends the loop. Per group of 4 taps: LDR and 2 SXTB16 unpack the weights, np
// LDRD load the inputs, 2 np SMLAD do 4 np MACs; per iteration CMP and BNE (7 pixels, 16 taps:
// 98 instructions per 112 MACs; 8 taps: 50 per 56). The instructions, operands named as in
// emit_mac_loop; the first loads pixel 0's pair.
std::vector<std::string> mac_loop_asm(int64_t np, int groups) {
  std::vector<std::string> a;
  const int64_t advance = 8 * np * groups;  // bytes of scratch per iteration
  a.push_back(fmt::format("ldrd %[xa], %[xb], [%[s]], #{}", advance));
  a.push_back("1:");
  for (int half = 0; half < groups; ++half) {
    a.push_back("ldr %[wa], [%[w]], #4");
    a.push_back("sxtb16 %[wb], %[wa], ror #8");
    a.push_back("sxtb16 %[wa], %[wa]");
    for (int64_t p = 0; p < np; ++p) {
      const int64_t at = 8 * (half * np + p);  // bytes from the iteration's s
      if (at > 0) a.push_back(fmt::format("ldrd %[xa], %[xb], [%[s], #{}]", at - advance));
      a.push_back(fmt::format("smlad %[a{0}], %[wa], %[xa], %[a{0}]", p));
      a.push_back(fmt::format("smlad %[a{0}], %[wb], %[xb], %[a{0}]", p));
    }
  }
  a.push_back(fmt::format("ldrd %[xa], %[xb], [%[s]], #{}", advance));
  a.push_back(fmt::format("cmp %[xa], #0x{:08x}", kEndMarker));
  a.push_back("bne 1b");
  return a;
}

// Writes the instructions `a` as the text of an __asm__ statement, one per line.
void write_asm_lines(CodeWriter& src, const std::vector<std::string>& a) {
  for (size_t i = 0; i < a.size(); ++i) {
    const bool label = a[i].back() == ':';
    src.linef("    \"{}\\n{}\"", a[i], label || i + 1 == a.size() ? "" : "\\t");
  }
}

// The register operands of the loop: accumulators acc0.. (in and out), s, w, and 4 temporaries.
// `inout`: the constraint of the accumulators and s ("+r", or "=&r" where they start inside).
std::string mac_loop_operands(int64_t np, const char* inout) {
  std::string outs;
  for (int64_t p = 0; p < np; ++p) outs += fmt::format("[a{0}] \"{1}\"(acc{0}), ", p, inout);
  return outs + fmt::format("[s] \"{}\"(s), [w] \"+r\"(w), [wa] \"=&r\"(wa), [wb] \"=&r\"(wb), "
                            "[xa] \"=&r\"(xa), [xb] \"=&r\"(xb)", inout);
}

// The C version of the loop, for -O0, where GCC cannot give the assembly its 13 registers.
void emit_mac_loop_c(CodeWriter& src, int64_t np, int groups) {
  src.open(fmt::format("for (; s[0] != 0x{:08x}; s += {}, w += {})", kEndMarker, 2 * np * groups,
                       4 * groups));
  for (int half = 0; half < groups; ++half) {
    src.open("");
    src.linef("const int32_t v = read_s8x4(w{}), wa = __sxtb16(v), wb = sxtb16_ror8(v);",
              half ? fmt::format(" + {}", 4 * half) : std::string());
    for (int64_t p = 0; p < np; ++p) {
      const int64_t at = 2 * (half * np + p);
      src.linef("acc{0} = __smlad(wb, s[{1}], __smlad(wa, s[{2}], acc{0}));", p, at + 1, at);
    }
    src.close();
  }
  src.close();
}

void emit_mac_loop(CodeWriter& src, int64_t np, int groups) {
  src.line("#if defined(__OPTIMIZE__)");
  src.line("int32_t wa, wb, xa, xb;");
  src.linef("// Per iteration: 4 weights unpacked to wa = (w0, w2), wb = (w1, w3), pixel p's (x0, x2), "
            "(x1, x3) at s[2 p]; then the next 4 at s[{}], and so on {} times. s advances by {} "
            "words in the LDRD that loads pixel 0's first pair.", 2 * np, groups, 2 * np * groups);
  src.line("__asm__(");
  write_asm_lines(src, mac_loop_asm(np, groups));
  src.linef("    : {}", mac_loop_operands(np, "+r"));
  src.line("    :");
  src.line("    : \"cc\", \"memory\");");
  // GCC 12 finds the 13 registers at -O1 to -O3, -Os and -Og, with or without
  // -fno-omit-frame-pointer, but not at -O0 (checked for cortex-m4, m7 and m33).
  src.line("#else");
  emit_mac_loop_c(src, np, groups);
  src.line("#endif");
}

// Whether emit_filter_loop applies to outputs in `range`: SSAT alone clamps them.
bool filter_loop_applies(const ActivationRange& range) {
  return range.min == -128 && range.max == 127;
}

// Every filter over a block of np pixels in one assembly statement: per filter, the doubled
// bias from its channels row into the accumulators, emit_mac_loop's loop, then
// output_int8_doubled in SMMLAR, (with negative ties: ADD,) ASR and SSAT and a STRB per pixel.
// With `late` the inputs were not doubled: the accumulators start at 0 and QDADD makes
// 2 bias + 2 acc after the loop (one instruction per output instead of 2 per gathered word).
// In C, GCC spilled and reloaded around the loop: 62 instructions per filter outside it with 7
// pixels, 51 here. Only the loop's 13 values stay in registers; the rest is in memory operands
// (the C variables q, q_end, o, xs and, unless `out_c` is given, out_c): the channels row, the
// end of the rows, the filter's first output, the scratch and the output stride. Weights `w`
// advance row after row.
void emit_filter_loop(CodeWriter& src, int64_t np, int groups, bool late, bool negative_ties,
                      int64_t out_c) {
  std::vector<std::string> a = {"2:"};
  if (late) {
    for (int64_t p = 0; p < np; ++p) a.push_back(fmt::format("mov %[a{}], #0", p));
  } else {
    for (const char* i : {"ldr %[s], %[q]", "ldr %[a0], [%[s]], #16", "str %[s], %[q]"}) {
      a.push_back(i);
    }
    for (int64_t p = 1; p < np; ++p) a.push_back(fmt::format("mov %[a{}], %[a0]", p));
  }
  a.push_back("ldr %[s], %[xs]");
  for (const std::string& i : mac_loop_asm(np, groups)) a.push_back(i);
  // m, c and e of output_int8_doubled to wa, wb and xa; s: the next channels row.
  a.push_back("ldr %[s], %[q]");
  if (late) {
    a.push_back("ldrd %[xb], %[wa], [%[s]], #16");  // 2 bias, m
    a.push_back("ldrd %[wb], %[xa], [%[s], #-8]");
    a.push_back("str %[s], %[q]");
    for (int64_t p = 0; p < np; ++p) a.push_back(fmt::format("qdadd %[a{0}], %[xb], %[a{0}]", p));
  } else {
    a.push_back("ldrd %[wa], %[wb], [%[s], #-12]");
    a.push_back("ldr %[xa], [%[s], #-4]");
  }
  for (int64_t p = 0; p < np; ++p) {
    if (negative_ties) {
      a.push_back(fmt::format("smmlar %[xb], %[a{0}], %[wa], %[wb]", p));
      a.push_back(fmt::format("add %[a{0}], %[xb], %[a{0}], asr #31", p));
    } else {
      a.push_back(fmt::format("smmlar %[a{0}], %[a{0}], %[wa], %[wb]", p));
    }
    a.push_back(fmt::format("asr %[a{0}], %[a{0}], %[xa]", p));
    a.push_back(fmt::format("ssat %[a{0}], #8, %[a{0}]", p));
  }
  a.push_back("ldr %[wa], %[o]");
  const bool immediate = out_c > 0 && (np - 1) * out_c <= 4095;
  if (immediate) {
    for (int64_t p = 0; p < np; ++p) {
      a.push_back(p == 0 ? "strb %[a0], [%[wa]]"
                         : fmt::format("strb %[a{}], [%[wa], #{}]", p, p * out_c));
    }
  } else {
    // Pixel p's output at o + p out_c: from o (p = 0, 1, 2, 4), o + 2 out_c (3, 6) and
    // o + 4 out_c (5), register offsets shifted by 0 to 2.
    a.push_back("ldr %[wb], %[oc]");
    const char* from_o[] = {"[%[wa]]", "[%[wa], %[wb]]", "[%[wa], %[wb], lsl #1]", "",
                            "[%[wa], %[wb], lsl #2]"};
    for (int64_t p : {0, 1, 2, 4}) {
      if (p < np) a.push_back(fmt::format("strb %[a{}], {}", p, from_o[p]));
    }
    if (np > 3) {
      a.push_back("add %[xa], %[wa], %[wb], lsl #1");
      a.push_back("strb %[a3], [%[xa], %[wb]]");
      if (np > 6) a.push_back("strb %[a6], [%[xa], %[wb], lsl #2]");
    }
    if (np > 5) {
      a.push_back("add %[xa], %[xa], %[wb], lsl #1");
      a.push_back("strb %[a5], [%[xa], %[wb]]");
    }
  }
  a.push_back("add %[wa], %[wa], #1");
  a.push_back("str %[wa], %[o]");
  a.push_back("ldr %[xb], %[q_end]");
  a.push_back("cmp %[s], %[xb]");
  a.push_back("bne 2b");
  src.line("int32_t wa, wb, xa, xb;");
  std::string accs = "int32_t acc0";
  for (int64_t p = 1; p < np; ++p) accs += fmt::format(", acc{}", p);
  src.line(accs + ";");
  src.line("const int32_t* s;");
  src.line("__asm__ volatile(");
  write_asm_lines(src, a);
  src.linef("    : {},", mac_loop_operands(np, "=&r"));
  src.linef("      [q] \"+m\"(q), [o] \"+m\"(o)");
  src.linef("    : [q_end] \"m\"(q_end), [xs] \"m\"(xs){}", immediate ? "" : ", [oc] \"m\"(out_c)");
  src.line("    : \"cc\", \"memory\");");
}

// One block of np consecutive pixels of a 1x1 conv2d (stride 1, no padding) as one kernel for
// every shape: channels and the input zero point are arguments, so the layers of a network
// share it (person_detect's 14: 7- and 6-pixel kernels for 16 and for 8 taps per loop
// iteration, and a 2- and a 1-pixel one for tails), with emit_filter_loop (emit_mac_loop
// where the outputs need more than SSAT). Each layer's function loops over its blocks of 7 and
// 6 pixels, then calls the kernel for the rest if any.
void emit_pointwise_kernel(CodeWriter& src, const std::string& name, int64_t np, int groups,
                           const ActivationRange& range, bool negative_ties) {
  src.linef("// 1x1 conv2d, stride 1, no padding: {} consecutive pixels of `in_c` channels (a "
            "multiple of {}) to `out_c`.", np, 4 * groups);
  src.line("// The pixels' inputs minus the zero point (offset: its negation in both halves), "
           "doubled, go to the int16 scratch");
  src.linef("// `xs`: group g of 4 channels of pixel p at xs[{} g + 2 p], as (x0, x2), (x1, x3). "
            "Then each filter", 2 * np);
  src.line("// (weights: out_c rows of in_c; channels: doubled bias and output_int8_doubled's "
           "constants) runs over them.");
  src.open(fmt::format("static TINYC_NOINLINE void {}(const int8_t* x, int8_t* y, int32_t* xs, "
                       "int in_c, int out_c, int32_t offset, const int8_t* weights, "
                       "const int32_t (*channels)[4])", name));
  src.linef("int32_t* const end = xs + in_c / 4 * {};", 2 * np);
  src.open(fmt::format("for (int p = 0; p < {}; ++p)", np));
  src.line("const int8_t* r = x + p * in_c;");
  src.open(fmt::format("for (int32_t* d = xs + 2 * p; d < end; d += {}, r += 4)", 2 * np));
  src.line("const int32_t v = read_s8x4(r);");
  emit_unpack_word(src, "d[0]", "d[1]", true);
  src.close();
  src.close();
  src.linef("*end = 0x{:08x};  // ends emit_mac_loop's scratch", kEndMarker);
  src.line("const int8_t* w = weights;");
  src.line("int8_t* o = y;");
  if (filter_loop_applies(range)) {
    src.line("#if defined(__OPTIMIZE__)");
    src.line("const int32_t* q = channels[0];");
    src.line("const int32_t* const q_end = channels[out_c];");
    emit_filter_loop(src, np, groups, false, negative_ties, 0);
    src.line("#else");
  }
  src.open("for (const int32_t* q = channels[0]; q != channels[out_c]; q += 4, ++o)");
  for (int64_t p = 0; p < np; ++p) src.linef("int32_t acc{} = q[0];", p);
  src.line("const int32_t* s = xs;");
  // Under #else of emit_filter_loop's __OPTIMIZE__, only the loop's C form can compile.
  if (filter_loop_applies(range)) {
    emit_mac_loop_c(src, np, groups);
  } else {
    emit_mac_loop(src, np, groups);
  }
  // In locals: a store through `o` (int8_t) could alias them for the compiler.
  src.line("const int32_t m = q[1], c = q[2], e = q[3];");
  src.line("int8_t* out = o;");
  for (int64_t p = 0; p < np; ++p) {
    if (p > 0) src.line("out += out_c;");
    src.linef("*out = output_int8_doubled(acc{}, m, c, e, {}, {}, {});", p,
              negative_ties ? "true" : "false", range.min, range.max);
  }
  src.close();
  if (filter_loop_applies(range)) src.line("#endif");
  src.close();
}

// A conv2d over one input channel with a window of at most 3 x 4 (first layers on images,
// e.g. 3x3: 9 taps): each window row is one word read from the input, unpacked by SXTAB16 into
// the pairs (x0, x2), (x1, x3) minus the zero point and doubled (the 4th tap of a 3-wide row
// gets weight 0). The block kernels spent most of these layers on gathering taps one by one and
// on requantizing; here each output pixel's pairs (2 per row) stay in registers while every
// filter runs over them, its weights int16 pairs in flash (2 bytes per tap: at most 24 per
// filter), its constants in the same row, so that one pointer walks them all. Per filter: one
// LDRD and 2 SMLAD per row, then LDRD, SMMLAR, LDR, ASR, SSAT and STRB, and LDR, TST and BEQ
// for the next row: the array ends with 1, odd where every doubled bias is even. Where SSAT
// alone does not clamp the outputs, the loop over filters is in C. No scratch.
}  // namespace

// At most 3 rows: 6 pairs, 11 registers for the assembly. GCC -O1 with a frame pointer found no
// 13 for 4 rows (8 pairs) in this loop.
bool few_taps_window(int k_h, int k_w) { return k_h <= 3 && k_w <= 4; }

namespace {

bool few_taps_applies(const Target& t, const Model& m, const Op& op, std::vector<int64_t>* rows) {
  if (!t.dsp || op.type != OpType::kConv2d) return false;
  const ConvShape s = conv_shape(m, op);
  if (s.g.in_c != 1 || !few_taps_window(s.g.k_h, s.g.k_w)) return false;
  const Tensor& xt = m.tensor(op.inputs[0]);
  const Tensor& wt = m.tensor(op.inputs[1]);
  const Tensor& bt = m.tensor(op.inputs[2]);
  const TensorQuant xq = activation_quant(op, xt), yq = activation_quant(op, m.tensor(op.outputs[0]));
  const std::vector<int64_t> bias(bt.ints.begin(), bt.ints.end());
  const std::vector<int64_t> weights(wt.ints.begin(), wt.ints.end());
  return doubled_rows(conv_multipliers(op, wt, bt, s.filters, xq, yq), bias, yq.zero_point,
                      fused_range_int8(op, yq), weights, xq.zero_point, rows);
}

// The name of the kernel whose text is `text` with "@kernel@" for its name: written to the
// source the first time, as `base` (made unique); layers whose kernels are the same share it.
std::string shared_kernel(EmitContext& ctx, const std::string& text, const std::string& base) {
  auto [it, added] = ctx.shared_kernels.emplace(text, std::string());
  if (added) {
    it->second = unique_identifier(base, &ctx.ids);
    std::string named = text;
    for (size_t at = named.find("@kernel@"); at != std::string::npos;
         at = named.find("@kernel@", at)) {
      named.replace(at, 8, it->second);
    }
    ctx.src.raw(named);
    ctx.src.line();
  }
  return it->second;
}

// emit_few_taps_conv's loop over filters for `pairs` input pairs, as a function of its own:
// in the pixel loop, GCC (-O1 with a frame pointer) did not find the 11 registers of its
// assembly. Layers with the same pairs and output range share it; returns its name.
std::string emit_few_taps_filters(EmitContext& ctx, int64_t pairs, const ActivationRange& range,
                                  bool negative_ties) {
  CodeWriter src;
  src.linef("// Every filter of the rows at `w` (emit_few_taps_conv) over one pixel's {} doubled "
            "input pairs `xs`: its output to o[f].", pairs);
  src.open("static TINYC_NOINLINE void @kernel@(const int32_t* xs, int8_t* o, const int32_t* w)");
  std::string loads;
  for (int64_t j = 0; j < pairs; ++j) loads += fmt::format("{}x{} = xs[{}]", j ? ", " : "", j, j);
  src.linef("const int32_t {};", loads);
  const bool in_asm = filter_loop_applies(range);
  if (in_asm) {
    std::vector<std::string> a = {"ldr %[a], [%[w]], #4", "1:"};
    for (int64_t j = 0; j < pairs; j += 2) {
      a.push_back("ldrd %[t0], %[t1], [%[w]], #8");
      a.push_back(fmt::format("smlad %[a], %[t0], %[x{}], %[a]", j));
      a.push_back(fmt::format("smlad %[a], %[t1], %[x{}], %[a]", j + 1));
    }
    a.push_back("ldrd %[t0], %[t1], [%[w]], #8");  // m, c
    if (negative_ties) {
      a.push_back("smmlar %[t1], %[a], %[t0], %[t1]");
      a.push_back("add %[a], %[t1], %[a], asr #31");
    } else {
      a.push_back("smmlar %[a], %[a], %[t0], %[t1]");
    }
    for (const char* i : {"ldr %[t0], [%[w]], #4", "asr %[a], %[a], %[t0]", "ssat %[a], #8, %[a]",
                          "strb %[a], [%[o]], #1", "ldr %[a], [%[w]], #4", "tst %[a], #1",
                          "beq 1b"}) {
      a.push_back(i);
    }
    src.line("#if defined(__OPTIMIZE__)");
    src.line("int32_t a, t0, t1;");
    src.line("__asm__ volatile(");
    write_asm_lines(src, a);
    src.line("    : [a] \"=&r\"(a), [t0] \"=&r\"(t0), [t1] \"=&r\"(t1), [w] \"+r\"(w), "
             "[o] \"+r\"(o)");
    std::string ins;
    for (int64_t j = 0; j < pairs; ++j) {
      ins += fmt::format("{}[x{}] \"r\"(x{})", j ? ", " : "", j, j);
    }
    src.linef("    : {}", ins);
    src.line("    : \"cc\", \"memory\");");
    src.line("#else");
  }
  src.open(fmt::format("for (const int32_t* r = w; (r[0] & 1) == 0; r += {})", pairs + 4));
  src.line("int32_t acc = r[0];");
  for (int64_t j = 0; j < pairs; ++j) src.linef("acc = __smlad(r[{}], x{}, acc);", j + 1, j);
  src.linef("*o++ = output_int8_doubled(acc, r[{}], r[{}], r[{}], {}, {}, {});", pairs + 1,
            pairs + 2, pairs + 3, negative_ties ? "true" : "false", range.min, range.max);
  src.close();
  if (in_asm) src.line("#endif");
  src.close();
  return shared_kernel(ctx, src.str(),
                       fmt::format("few_taps_filters_{}{}{}", pairs, negative_ties ? "" : "_relu",
                                   in_asm ? std::string()
                                          : fmt::format("_{}_{}", range.min, range.max)));
}

void emit_few_taps_conv(EmitContext& ctx, const Op& op, const std::string& fn,
                        const std::vector<int64_t>& rows) {
  const Model& m = ctx.model;
  const ConvShape s = conv_shape(m, op);
  const Window& g = s.g;
  const Tensor& xt = m.tensor(op.inputs[0]);
  const Tensor& wt = m.tensor(op.inputs[1]);
  const TensorQuant xq = activation_quant(op, xt), yq = activation_quant(op, m.tensor(op.outputs[0]));
  const ActivationRange range = fused_range_int8(op, yq);
  const bool negative_ties = range.min < yq.zero_point;
  const int64_t f_n = s.filters, pairs = 2 * int64_t{g.k_h};
  std::vector<int64_t> values;
  for (int64_t f = 0; f < f_n; ++f) {
    values.push_back(rows[static_cast<size_t>(4 * f)]);
    // Row ky's pairs: columns (0, 2) and (1, 3), 0 past the window.
    for (int64_t j = 0; j < pairs; ++j) {
      auto weight = [&](int64_t kx) -> uint32_t {
        if (kx >= g.k_w) return 0;
        return static_cast<uint32_t>(wt.ints[static_cast<size_t>((f * g.k_h + j / 2) * g.k_w + kx)]);
      };
      values.push_back(static_cast<int32_t>((weight(j % 2 + 2) << 16) | (weight(j % 2) & 0xffffu)));
    }
    for (int i = 1; i < 4; ++i) values.push_back(rows[static_cast<size_t>(4 * f + i)]);
  }
  values.push_back(1);
  const std::string filters = int_array(ctx, op.name + "_filters", "int32_t", 4, values, 0,
      fmt::format("{}: {} int8, symmetric per {}. Per filter: 2 bias, per window row the weight "
                  "pairs of columns (0, 2) and (1, 3) as lo + 65536 hi (0 past column {}), then "
                  "output_int8_doubled's multiplier, 2^(e-1) + zero point 2^e and e; then 1 (no "
                  "doubled bias is odd) ends the rows", wt.name, shape_str(wt.shape),
                  wt.quant.scale.size() > 1 ? "output channel" : "tensor", g.k_w - 1));
  ctx.needs_requantize = true;
  ctx.needs_dsp = true;
  CodeWriter& src = ctx.src;
  // Words that reach past the image's left or right edge come from an edge helper.
  const bool edges = g.pad_left > 0 || (g.out_w - 1) * g.stride_w - g.pad_left + 4 > g.in_w;
  const bool rows_out = g.pad_top > 0 || (g.out_h - 1) * g.stride_h - g.pad_top + g.k_h > g.in_h;
  const std::string edge_fn = unique_identifier(fn + "_edge_word", &ctx.ids);
  if (edges) emit_edge_word(src, edge_fn, g.in_w, xq.zero_point);
  const std::string filters_fn = emit_few_taps_filters(ctx, pairs, range, negative_ties);
  src.linef("// {}: int8 conv2d {}, {} -> {}, activation {}. {} MACs.", op.name,
            window_str(g, op_same_padding(op)), shape_str(sample(xt.shape)),
            shape_str(sample(m.tensor(op.outputs[0]).shape)), act_name(op_activation(op, true)),
            g.out_pixels() * f_n * g.k_h * g.k_w);
  src.linef("// x: ({}, {}, 1) scale {} zero point {}  y: ({}, {}, {}) scale {} zero point {}",
            g.in_h, g.in_w, xq.scale, xq.zero_point, g.out_h, g.out_w, f_n, yq.scale,
            yq.zero_point);
  src.linef("// DSP kernel for one input channel: per output pixel, its {} doubled input pairs stay "
            "in registers while every filter runs over them.", pairs);
  src.open(fmt::format("static TINYC_NOINLINE void {}(const int8_t* x, int8_t* y)", fn));
  emit_offset(src, xq.zero_point);
  if (rows_out) {
    src.linef("const int32_t fill = static_cast<int32_t>(0x{:08x}u);  // rows in the padding",
              static_cast<uint8_t>(xq.zero_point) * 0x01010101u);
  }
  src.open(fmt::format("for (int oy = 0; oy < {}; ++oy)", g.out_h));
  src.linef("const int iy0 = {}{};", times("oy", g.stride_h),
            g.pad_top > 0 ? fmt::format(" - {}", g.pad_top) : std::string());
  src.open(fmt::format("for (int ox = 0; ox < {}; ++ox, y += {})", g.out_w, f_n));
  src.linef("const int ix0 = {}{};", times("ox", g.stride_w),
            g.pad_left > 0 ? fmt::format(" - {}", g.pad_left) : std::string());
  if (edges) src.linef("const bool inside = ix0 >= 0 && ix0 + 4 <= {};", g.in_w);
  src.linef("int32_t xs[{}];", pairs);
  for (int64_t ky = 0; ky < g.k_h; ++ky) {
    src.open("");
    const std::string row = fmt::format("x + {}", times(plus("iy0", std::to_string(ky)), g.in_w));
    const std::string word = edges ? fmt::format("inside ? read_s8x4({0} + ix0) : {1}({0}, ix0)",
                                                 row, edge_fn)
                                   : fmt::format("read_s8x4({} + ix0)", row);
    if (rows_out) {
      src.linef("const int iy = {};", plus("iy0", std::to_string(ky)));
      src.linef("const int32_t v = iy >= 0 && iy < {} ? {} : fill;", g.in_h, word);
    } else {
      src.linef("const int32_t v = {};", word);
    }
    emit_unpack_word(src, fmt::format("xs[{}]", 2 * ky), fmt::format("xs[{}]", 2 * ky + 1),
                     true);
    src.close();
  }
  src.linef("{}(xs, y, {});", filters_fn, filters);
  src.close();
  src.close();
  src.close();
}

}  // namespace

int64_t dsp_conv_scratch_bytes(const Target& t, const Model& m, const Op& op) {
  if (!dsp_conv_applies(t, m, op) || dsp_rows_applies(t, m, op)) return 0;
  if (std::vector<int64_t> rows; few_taps_applies(t, m, op, &rows)) return 0;
  const ConvShape s = conv_shape(m, op);
  // The assembly loop's block is one pixel larger and ends with a marker pair. Whether it runs
  // depends on the requantization constants too; the scratch is sized for it either way.
  const bool asm_loop = asm_loop_shape(s);
  return block_pixels(s, asm_loop) * s.padded * 2 + (asm_loop ? 8 : 0);
}

bool emit_int8_conv_dsp(EmitContext& ctx, const Op& op, const std::string& fn) {
  const Model& m = ctx.model;
  if (!dsp_conv_applies(ctx.target, m, op)) return false;
  if (dsp_rows_applies(ctx.target, m, op)) {
    emit_int8_conv_dsp_rows(ctx, op, fn);
    return true;
  }
  if (std::vector<int64_t> rows; few_taps_applies(ctx.target, m, op, &rows)) {
    emit_few_taps_conv(ctx, op, fn, rows);
    return true;
  }
  const ConvShape s = conv_shape(m, op);
  const Window& g = s.g;
  const Tensor& xt = m.tensor(op.inputs[0]);
  const Tensor& wt = m.tensor(op.inputs[1]);
  const Tensor& bt = m.tensor(op.inputs[2]);
  const TensorQuant xq = activation_quant(op, xt), yq = activation_quant(op, m.tensor(op.outputs[0]));
  const auto q = conv_multipliers(op, wt, bt, s.filters, xq, yq);
  const ActivationRange range = fused_range_int8(op, yq);
  const int64_t f_n = s.filters, k_n = s.taps, kp = s.padded;
  // Filter f's taps in (ky, kx, c) order, padded with zeros.
  std::vector<int64_t> w(static_cast<size_t>(f_n * kp), 0);
  std::vector<int64_t> bias(bt.ints.begin(), bt.ints.end());
  for (int64_t f = 0; f < f_n; ++f) {
    for (int64_t k = 0; k < k_n; ++k) {
      // Scalar gather: taps in order, so SXTB16 must unpack (w0, w1) then (w2, w3).
      const int64_t at = s.sx_order ? k : k / 4 * 4 + (k % 4 == 1 ? 2 : k % 4 == 2 ? 1 : k % 4);
      w[static_cast<size_t>(f * kp + at)] =
          wt.ints[static_cast<size_t>(s.depthwise ? k * f_n + f : f * k_n + k)];
    }
  }
  const bool negative_ties = range.min < yq.zero_point;
  std::string w_id = int_array(ctx, op.name + "_weights", "int8_t", 1, w, f_n,
      fmt::format("{}: {} int8, symmetric per {}; one row of {} taps (ky, kx, c) per {}{}",
                  wt.name, shape_str(wt.shape), wt.quant.scale.size() > 1 ? "output channel" : "tensor",
                  k_n, s.depthwise ? "output channel" : "filter",
                  kp != k_n ? fmt::format(", zero-padded to {}", kp) : std::string()) +
          (s.sx_order ? std::string() : "; each group of 4 stored as w0, w2, w1, w3"));
  ctx.needs_dsp = true;
  const bool pointwise = pointwise_applies(s);
  // The assembly loop (emit_mac_loop) where taps are gathered a word at a time, 8 per loop
  // iteration, and the requantization allows doubled inputs (output_int8_doubled).
  const bool mac_loop = asm_loop_shape(s);
  FilterConstants consts =
      doubled_constants(ctx, op.name, q, bias, yq.zero_point, range, w, xq.zero_point);
  if (consts.doubled && pointwise) {
    // The shared block kernels (7 and 6 pixels, and fewer for a tail), written when first used.
    // 16 taps per loop iteration where the channels allow it, else 8.
    const int groups = g.in_c % 16 == 0 ? 4 : 2;
    auto block_kernel = [&](int64_t np) {
      CodeWriter kernel;
      emit_pointwise_kernel(kernel, "@kernel@", np, groups, range, negative_ties);
      return shared_kernel(ctx, kernel.str(), fmt::format("pointwise_conv2d_{}px{}{}{}", np,
          negative_ties ? "" : "_relu",
          range.min > -128 || range.max < 127 ? fmt::format("_{}_{}", range.min, range.max)
                                              : std::string(),
          groups == 2 ? "_8taps" : ""));
    };
    // As few blocks as 7-pixel ones would take, each of 7 or 6 pixels where that adds up
    // (from 30 pixels on, always): a block's weights are unpacked once, but a small tail block
    // costs nearly as much per filter as a full one. Otherwise 7-pixel blocks and a tail.
    const int64_t pixels = g.out_pixels(), blocks = (pixels + kAsmPixels - 1) / kAsmPixels;
    const int64_t mixed = pixels - (kAsmPixels - 1) * blocks;  // 7-pixel blocks in a mix
    const bool mix = mixed >= 0 && mixed <= blocks;
    const int64_t sevens = mix ? mixed : pixels / kAsmPixels, sixes = mix ? blocks - mixed : 0;
    const int64_t full = sevens * kAsmPixels + sixes * (kAsmPixels - 1);
    const std::string block7 = sevens > 0 ? block_kernel(kAsmPixels) : std::string();
    const std::string block6 = sixes > 0 ? block_kernel(kAsmPixels - 1) : std::string();
    const std::string tail = pixels > full ? block_kernel(pixels - full) : std::string();
    CodeWriter& src = ctx.src;
    src.linef("// {}: int8 conv2d 1x1, stride 1x1, {} -> {}, activation {}. {} MACs.", op.name,
              shape_str(sample(xt.shape)), shape_str(sample(m.tensor(op.outputs[0]).shape)),
              act_name(op_activation(op, true)), pixels * f_n * k_n);
    src.linef("// x: ({}, {}, {}) scale {} zero point {}  w: ({}, {})  y: ({}, {}, {}) scale {} "
              "zero point {}", g.in_h, g.in_w, g.in_c, xq.scale, xq.zero_point, f_n, kp, g.out_h,
              g.out_w, f_n, yq.scale, yq.zero_point);
    src.open(fmt::format("static void {}(const int8_t* x, int8_t* y, int32_t* xs)", fn));
    const uint32_t offset = static_cast<uint16_t>(-xq.zero_point) * 0x10001u;
    const std::string args = fmt::format("xs, {}, {}, static_cast<int32_t>(0x{:08x}u), {}[0], {}",
                                         g.in_c, f_n, offset, w_id, consts.channels);
    auto run = [&](int64_t from, int64_t n, int64_t np, const std::string& kernel) {
      if (n == 0) return;
      if (n == 1) {
        src.linef("{}(x + {}, y + {}, {});", kernel, from * g.in_c, from * f_n, args);
        return;
      }
      src.linef("for (int p = {}; p < {}; p += {}) {}(x + p * {}, y + p * {}, {});", from,
                from + n * np, np, kernel, g.in_c, f_n, args);
    };
    run(0, sevens, kAsmPixels, block7);
    run(sevens * kAsmPixels, sixes, kAsmPixels - 1, block6);
    if (pixels > full) run(full, 1, pixels - full, tail);
    src.close();
    return true;
  }
  if (!consts.doubled) consts = filter_constants(ctx, op.name, q, bias, yq.zero_point);
  const bool doubled = consts.doubled;
  const bool folded = consts.folded || doubled;  // per-filter rows: a kernel layers can share
  const std::string& b_id = consts.bias;
  const RequantArrays& rq = consts.requant;
  std::string c_id = consts.channels;
  const bool asm_loop = doubled && mac_loop;
  const int groups = kp % 16 == 0 ? 4 : 2;  // 4-tap groups per iteration of the assembly loop
  // Inputs doubled after the loop (emit_filter_loop's `late`) where that costs less: one
  // instruction per output against 2 per gathered word of 4 taps, kp / 2 per pixel for f_n
  // outputs; with 7 pixels the late form costs 6 more per filter besides.
  const bool late = asm_loop && 7 * kp > 12 * f_n;
  // The whole filter loop in assembly (emit_filter_loop), the per-filter code below under #else.
  const bool whole = asm_loop && filter_loop_applies(range);
  // With folded requantization the arrays are arguments: layers of the same shapes, zero points
  // and range (person_detect's five 1x1 conv2d on (6, 6, 128)) share one kernel. Its text is
  // written with the placeholder kKernel for its name, then looked up among those written.
  constexpr const char* kKernel = "@kernel@";
  CodeWriter layer_src;
  const std::string layer_w_id = w_id, layer_c_id = c_id;
  if (folded) {
    std::swap(ctx.src, layer_src);
    w_id = "weights";
    c_id = "channels";
  }
  const std::string kernel_fn = folded ? kKernel : fn;
  const std::string im2col = folded ? kernel_fn + "_im2col" : unique_identifier(fn + "_im2col", &ctx.ids);
  emit_im2col(ctx, s, xq.zero_point, im2col, doubled && !late);
  ctx.src.line();

  CodeWriter& src = ctx.src;
  const int64_t pixels = g.out_pixels();
  const int64_t block = block_pixels(s, asm_loop), full = pixels / block * block;
  CodeWriter notes;  // the layer's comments, written before its own function
  if (folded) std::swap(ctx.src, notes);
  src.linef("// {}: int8 {} {}, {} -> {}, activation {}. {} MACs.", op.name,
            s.depthwise ? "depthwise_conv2d (one input channel, as a conv2d)" : "conv2d",
            window_str(g, op_same_padding(op)), shape_str(sample(xt.shape)),
            shape_str(sample(m.tensor(op.outputs[0]).shape)), act_name(op_activation(op, true)),
            pixels * f_n * k_n);
  src.linef("// x: ({}, {}, {}) scale {} zero point {}  w: ({}, {})  y: ({}, {}, {}) scale {} "
            "zero point {}", g.in_h, g.in_w, g.in_c, xq.scale, xq.zero_point, f_n, kp, g.out_h,
            g.out_w, f_n, yq.scale, yq.zero_point);
  src.linef("// DSP kernel: {} pixels at a time gathered into `xs` (the scratch, {} bytes), then "
            "each filter over them.", block, block * kp * 2);
  if (folded) {
    std::swap(ctx.src, notes);
    src.open(fmt::format("static TINYC_NOINLINE void {}(const int8_t* x, int8_t* y, int32_t* xs, "
                         "const int8_t (*weights)[{}], const int32_t (*channels)[4])", kernel_fn, kp));
  } else {
    src.open(fmt::format("static TINYC_NOINLINE void {}(const int8_t* x, int8_t* y, int32_t* xs)", fn));
  }
  // `nf` filters from `f` over the block's `np` pixels; pixel p's group k at s[k * step +
  // p * 2] (interleaved) or s[p * kp / 2 + 2 * k] (one row per pixel).
  auto filter_block = [&](int64_t nf, int64_t np, const std::string& f) {
    const int64_t step = s.interleaved ? 2 * np : 2;
    auto at = [&](int64_t p, int half) {
      return std::to_string(s.interleaved ? 2 * p + half : p * kp / 2 + half);
    };
    src.linef("const int8_t* w = {}[{}];", w_id, f);
    if (asm_loop) {
      src.linef("const int32_t* const q0 = {}[{}];", c_id, f);
      for (int64_t p = 0; p < np; ++p) src.linef("int32_t acc{} = {};", p, late ? "0" : "q0[0]");
      src.line("const int32_t* s = xs;");
      if (whole) {
        emit_mac_loop_c(src, np, groups);  // under #else of __OPTIMIZE__
      } else {
        emit_mac_loop(src, np, groups);
      }
      src.line("const int32_t m = q0[1], c = q0[2], e = q0[3];");
      for (int64_t p = 0; p < np; ++p) {
        src.linef("y[{}] = output_int8_doubled({}, m, c, e, {}, {}, {});",
                  p == 0 ? f : plus(std::to_string(p * f_n), f),
                  late ? fmt::format("q0[0] + 2 * acc{}", p) : fmt::format("acc{}", p),
                  negative_ties ? "true" : "false", range.min, range.max);
      }
      return;
    }
    auto bias_of = [&](int64_t i) {
      return folded ? fmt::format("{}[{}][0]", c_id, plus(f, std::to_string(i)))
                    : fmt::format("{}[{}]", b_id, plus(f, std::to_string(i)));
    };
    for (int64_t i = 0; i < nf; ++i) {
      for (int64_t p = 0; p < np; ++p) src.linef("int32_t acc{}{} = {};", i, p, bias_of(i));
    }
    // The end pointer as loop counter: GCC keeps it in a register (an index needs two).
    src.open(fmt::format("for (const int32_t* s = xs; s != xs + {}; w += 4, s += {})",
                         kp / 4 * step, step));
    for (int64_t i = 0; i < nf; ++i) {
      src.linef("const int32_t w{0} = read_s8x4(w{1});", i, i == 0 ? "" : fmt::format(" + {}", i * kp));
      src.linef("const int32_t w{0}_a = __sxtb16(w{0}), w{0}_b = sxtb16_ror8(w{0});", i);
    }
    src.line("int32_t xa, xb;");
    for (int64_t p = 0; p < np; ++p) {
      // A pixel's two pairs are adjacent: one LDRD (24 instead of 31 instructions per 24 MACs
      // with 6 pixels, measured).
      // LDRD reaches 1020 bytes from its base (LDR 4095).
      if (std::stoll(at(p, 0)) * 4 <= 1020) {
        src.linef("load_pair<{}>(s, &xa, &xb);", at(p, 0));
      } else {
        src.linef("xa = s[{}];", at(p, 0));
        src.linef("xb = s[{}];", at(p, 1));
      }
      for (int half = 0; half < 2; ++half) {
        for (int64_t i = 0; i < nf; ++i) {
          src.linef("acc{1}{2} = __smlad(w{1}_{0}, x{0}, acc{1}{2});", half ? "b" : "a", i, p);
        }
      }
    }
    src.close();
    for (int64_t i = 0; i < nf; ++i) {
      const std::string o = plus(f, std::to_string(i));
      if (folded) src.linef("const int32_t* q{} = {}[{}];", i, c_id, o);
      for (int64_t p = 0; p < np; ++p) {
        const std::string acc = fmt::format("acc{}{}", i, p);
        src.linef("y[{}] = {};", p == 0 ? o : plus(std::to_string(p * f_n), o),
                  doubled ? fmt::format("output_int8_doubled({0}, q{1}[1], q{1}[2], q{1}[3], {2}, "
                                        "{3}, {4})", acc, i, negative_ties ? "true" : "false",
                                        range.min, range.max)
                  : folded ? fmt::format("output_int8_folded({0}, q{1}[1], q{1}[2], q{1}[3], {2}, {3})",
                                         acc, i, range.min, range.max)
                           : requant_call(rq, acc, o, yq.zero_point, range.min, range.max));
      }
    }
  };
  auto pixel_block = [&](int64_t np, const std::string& first) {
    if (s.interleaved) {
      src.linef("for (int p = 0; p < {}; ++p) {}(x, xs + 2 * p, {}, {});", np, im2col, 2 * np,
                plus(first, "p"));
      if (asm_loop) {
        src.linef("xs[{}] = 0x{:08x};  // ends emit_mac_loop's scratch", kp / 4 * 2 * np,
                  kEndMarker);
      }
    } else {
      src.linef("for (int p = 0; p < {}; ++p) {}(x, xs + p * {}, {});", np, im2col, kp / 2,
                plus(first, "p"));
    }
    if (whole) {
      src.line("#if defined(__OPTIMIZE__)");
      src.open("");
      src.linef("const int8_t* w = {}[0];", w_id);
      src.linef("const int32_t* q = {}[0];", c_id);
      src.linef("const int32_t* const q_end = {}[{}];", c_id, f_n);
      src.line("int8_t* o = y;");
      emit_filter_loop(src, np, groups, late, negative_ties, f_n);
      src.close();
      src.line("#else");
    }
    const int64_t pairs = f_n / kFilters * kFilters;
    if (pairs > 0) {
      src.open(fmt::format("for (int f = 0; f < {}; f += {})", pairs, kFilters));
      filter_block(kFilters, np, "f");
      src.close();
    }
    if (f_n > pairs) {
      src.open("");
      filter_block(f_n - pairs, np, std::to_string(pairs));
      src.close();
    }
    if (whole) src.line("#endif");
  };
  if (full > 0) {
    src.open(fmt::format("for (int p0 = 0; p0 < {}; p0 += {}, y += {})", full, block, block * f_n));
    pixel_block(block, "p0");
    src.close();
  }
  if (pixels > full) pixel_block(pixels - full, std::to_string(full));
  src.close();
  if (folded) {
    std::swap(ctx.src, layer_src);  // layer_src: the shared kernel's text
    std::string text = layer_src.str();
    CodeWriter& out = ctx.src;
    auto [it, added] = ctx.shared_kernels.emplace(text, std::string());
    if (added) {
      it->second = unique_identifier(fmt::format("conv2d_{}x{}_s{}x{}_{}x{}x{}_to_{}{}", g.k_h, g.k_w,
          g.stride_h, g.stride_w, g.in_h, g.in_w, g.in_c, f_n,
          g.pad_top + g.pad_left > 0 ? "_same" : ""), &ctx.ids);
      ctx.ids.insert(it->second + "_im2col");
      for (size_t at = text.find(kKernel); at != std::string::npos; at = text.find(kKernel, at)) {
        text.replace(at, std::string(kKernel).size(), it->second);
      }
      out.raw(text);
      out.line();
    }
    out.raw(notes.str());
    src.linef("// DSP kernel {} ({} pixels at a time).", it->second, block);
    src.open(fmt::format("static void {}(const int8_t* x, int8_t* y, int32_t* xs)", fn));
    src.linef("{}(x, y, xs, {}, {});", it->second, layer_w_id, layer_c_id);
    src.close();
  }
  return true;
}

}  // namespace tinyc
