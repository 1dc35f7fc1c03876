// pad: TFLite PAD over the per-sample dimensions. Attribute pads: (before, after) for each
// dimension after the batch one, e.g. [1, 1, 2, 2, 0, 0] on (1, H, W, C). Padding values are 0
// (float) and the output zero point (int8, whose output shares the input's quantization, as
// TFLM requires).
#include <algorithm>
#include <cstring>

#include "layers/int8_util.h"
#include "layers/layer_util.h"

namespace tinyc {
namespace {

// Calls copy(in_offset, out_offset, count) for each innermost run of one sample.
template <typename Fn>
void for_each_run(const Shape& in, const Shape& out, const std::vector<int64_t>& pads, Fn copy) {
  const size_t rank = in.size();  // per-sample rank
  if (rank == 0) return copy(0, 0, 1);
  std::vector<int64_t> out_stride(rank, 1);
  for (size_t d = rank - 1; d-- > 0;) out_stride[d] = out_stride[d + 1] * out[d + 1];
  const int64_t inner = in[rank - 1];
  int64_t runs = 1;
  for (size_t d = 0; d + 1 < rank; ++d) runs *= in[d];
  std::vector<int> pos(rank, 0);
  for (int64_t r = 0; r < runs; ++r) {
    int64_t o = pads[2 * (rank - 1)];
    for (size_t d = 0; d + 1 < rank; ++d) o += (pos[d] + pads[2 * d]) * out_stride[d];
    copy(r * inner, o, inner);
    for (size_t d = rank - 1; d-- > 0;) {
      if (++pos[d] < in[d]) break;
      pos[d] = 0;
    }
  }
}

std::vector<int64_t> op_pads(const Op& op, size_t rank) {
  auto it = op.attrs.find("pads");
  if (it == op.attrs.end() || it->second.ints.size() != 2 * rank) {
    bad_input("layer '{}' (pad): needs attribute pads with 2 values per dimension after the "
              "batch one ({} here)", op.name, 2 * rank);
  }
  for (int64_t p : it->second.ints) {
    if (p < 0 || p > (1 << 20)) bad_input("layer '{}' (pad): padding {} out of range", op.name, p);
  }
  return it->second.ints;
}

class PadLayer : public Layer {
 public:
  std::vector<Shape> infer_shapes(const Op& op, const std::vector<Shape>& in) const override {
    require_arity(op, in, 1);
    require_batched(op, in[0]);
    const std::vector<int64_t> pads = op_pads(op, in[0].size() - 1);
    Shape out = in[0];
    for (size_t d = 1; d < out.size(); ++d) {
      out[d] += static_cast<int>(pads[2 * (d - 1)] + pads[2 * (d - 1) + 1]);
    }
    return {out};
  }

  void forward(const OpBinding& b) const override {
    run<float>(b.in_tensors[0]->sample_shape(), b.out_tensors[0]->sample_shape(), *b.op, b.n,
               b.in[0], b.out[0], 0.0f);
  }

  void backward(const OpBinding& b) const override {  // dx: the unpadded part of dy
    if (b.din[0] == nullptr) return;
    const Shape in = b.in_tensors[0]->sample_shape(), out = b.out_tensors[0]->sample_shape();
    const std::vector<int64_t> pads = op_pads(*b.op, in.size());
    const int64_t in_size = shape_size(in), out_size = shape_size(out);
    for (int64_t r = 0; r < b.n; ++r) {
      for_each_run(in, out, pads, [&](int64_t i, int64_t o, int64_t count) {
        std::memcpy(b.din[0] + r * in_size + i, b.dout[0] + r * out_size + o,
                    sizeof(float) * static_cast<size_t>(count));
      });
    }
  }

  void forward_int8(const Int8Binding& b) const override {
    require_same_quant(*b.op, *b.in_tensors[0], *b.out_tensors[0]);
    const auto zp = static_cast<int8_t>(b.out_tensors[0]->quant.zero_point[0]);
    run<int8_t>(b.in_tensors[0]->sample_shape(), b.out_tensors[0]->sample_shape(), *b.op, b.n,
                b.in[0], b.out[0], zp);
  }

 private:
  template <typename T>
  static void run(const Shape& in, const Shape& out, const Op& op, int64_t n, const T* x, T* y,
                  T fill) {
    const std::vector<int64_t> pads = op_pads(op, in.size());
    const int64_t in_size = shape_size(in), out_size = shape_size(out);
    std::fill(y, y + n * out_size, fill);
    for (int64_t r = 0; r < n; ++r) {
      for_each_run(in, out, pads, [&](int64_t i, int64_t o, int64_t count) {
        std::memcpy(y + r * out_size + o, x + r * in_size + i, sizeof(T) * static_cast<size_t>(count));
      });
    }
  }
};

}  // namespace

const Layer& pad_layer() {
  static const PadLayer layer;
  return layer;
}

}  // namespace tinyc
