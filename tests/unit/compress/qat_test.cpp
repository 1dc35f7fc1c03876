// Quantization-aware training: the fake-quantization ops and their straight-through gradient,
// weights fake-quantized exactly as quantize_model quantizes them, and QAT end to end on
// digits_mlp (no worse than post-training quantization, learned ranges used, deterministic).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>

#include "tinyc/executor.h"
#include "tinyc/model_file.h"
#include "tinyc/qat.h"
#include "tinyc/quantize.h"
#include "tinyc/spec.h"
#include "tinyc/train.h"

using namespace tinyc;

namespace {

const std::string kModels = TINYC_SOURCE_DIR "/models/";
const std::string kTasks = TINYC_SHARED_DIR "/data/tasks/";

struct Digits {
  Dataset data = load_data(kTasks + "digits.csv");
  TrainJob job;
  std::vector<float> x, y, tx, ty, px;
  int64_t rows = 0, test_rows = 0;
  explicit Digits(int epochs) {
    ModelSpec spec = load_spec(kModels + "digits_mlp.json");
    spec.train.epochs = epochs;
    TrainOptions o;
    o.progress = ProgressMode::kQuiet;
    o.threads = 2;
    job = train_from_spec(spec, data, o);
    SplitSpec s;
    s.test = job.model.split.test;
    s.seed = job.model.split.seed;
    const SplitIndices split = make_split(data, s);
    gather_rows(data, split.train, &x, &y);
    gather_rows(data, split.test, &tx, &ty);
    rows = static_cast<int64_t>(split.train.size());
    test_rows = static_cast<int64_t>(split.test.size());
    px = x;
    job.model.preprocess.apply(px.data(), rows, data.features);
  }
  TrainData train_data() const {
    TrainData td;
    td.x = px.data();
    td.y = y.data();
    td.rows = rows;
    return td;
  }
  double accuracy(const Model& m) const {
    return evaluate(m, tx.data(), ty.data(), test_rows).metric;
  }
};

}  // namespace

TEST_CASE("fake quantization rounds to the int8 grid and clamps", "[qat]") {
  const QuantParams p{0.1f, -28};  // representable: [0.1 * (-128 + 28), 0.1 * (127 + 28)]
  CHECK(fake_quantize(0.0f, p) == 0.0f);
  CHECK(fake_quantize(0.3f, p) == Approx(0.3f).margin(1e-6));
  CHECK(fake_quantize(0.04f, p) == 0.0f);
  CHECK(fake_quantize(0.06f, p) == Approx(0.1f).margin(1e-6));
  CHECK(fake_quantize(-0.26f, p) == Approx(-0.3f).margin(1e-6));
  CHECK(fake_quantize(100.0f, p) == Approx(15.5f).margin(1e-5));
  CHECK(fake_quantize(-100.0f, p) == Approx(-10.0f).margin(1e-5));
  // The straight-through estimator passes gradients inside the representable range only.
  CHECK(fake_quant_passes(0.0f, p));
  CHECK(fake_quant_passes(15.5f, p));
  CHECK(fake_quant_passes(-10.0f, p));
  CHECK_FALSE(fake_quant_passes(15.6f, p));
  CHECK_FALSE(fake_quant_passes(-10.1f, p));
}

TEST_CASE("the QAT hook fake-quantizes activations and masks their gradients", "[qat]") {
  const Model m = build_model(load_spec(kModels + "digits_mlp.json"), 1);
  const int hidden = m.ops[0].outputs[0];
  std::vector<TensorRange> ranges(m.tensors.size());
  ranges[static_cast<size_t>(hidden)] = {-1.0f, 1.0f, true};
  QatHook hook(m, ranges);
  REQUIRE(hook.activation_tensors() == std::vector<int>{hidden});
  Model params = m;
  std::vector<TrainParam> views;
  for (size_t t = 0; t < params.tensors.size(); ++t) {
    Tensor& tensor = params.tensors[t];
    if (tensor.is_constant()) {
      views.push_back({static_cast<int>(t), tensor.f32.data(), static_cast<int64_t>(tensor.f32.size())});
    }
  }
  hook.attach(m, views, 2, 4, 10, 1);
  hook.before_forward(0);
  // Weights are fake-quantized for forward and backward, then restored before the update.
  const Tensor& w = params.tensor(m.ops[0].inputs[1]);
  std::vector<float> fq(w.f32.size());
  fake_quantize_weights(m.tensor(m.ops[0].inputs[1]).f32.data(), fq.data(), w.shape, 0);
  CHECK(std::vector<float>(w.f32.begin(), w.f32.end()) == fq);
  CHECK(w.f32 != m.tensor(m.ops[0].inputs[1]).f32);
  const QuantParams p = choose_quant_params(-1.0f, 1.0f);
  const int64_t width = m.tensor(hidden).sample_size();  // 32
  std::vector<float> v(static_cast<size_t>(2 * width), 0.25f);
  v[0] = 5.0f;          // above the range
  v[1] = -3.0f;         // below
  v[2] = 0.5f;          // inside
  v[static_cast<size_t>(width)] = 0.999f;  // second row (thread 1's), inside
  hook.forward_activation(hidden, v.data(), 0, 1, width, 0);
  hook.forward_activation(hidden, v.data() + width, 1, 1, width, 1);
  // Clamped to the ends of the int8 grid.
  CHECK(v[0] == p.scale * static_cast<float>(127 - p.zero_point));
  CHECK(v[1] == p.scale * static_cast<float>(-128 - p.zero_point));
  CHECK(v[2] == fake_quantize(0.5f, p));
  CHECK(v[3] == fake_quantize(0.25f, p));
  std::vector<float> g(v.size(), 1.0f);
  hook.backward_activation(hidden, g.data(), 0, 1, width, 0);
  hook.backward_activation(hidden, g.data() + width, 1, 1, width, 1);
  CHECK(g[0] == 0.0f);
  CHECK(g[1] == 0.0f);
  CHECK(g[2] == 1.0f);
  CHECK(g[static_cast<size_t>(width)] == 1.0f);
  hook.before_update(0);
  CHECK(w.f32 == m.tensor(m.ops[0].inputs[1]).f32);
  // The range follows the batch's min/max [-3, 5] by an EMA with decay 0.99.
  hook.after_update(0);
  CHECK(hook.ranges()[static_cast<size_t>(hidden)].lo == Approx(0.99f * -1.0f + 0.01f * -3.0f));
  CHECK(hook.ranges()[static_cast<size_t>(hidden)].hi == Approx(0.99f * 1.0f + 0.01f * 5.0f));
}

TEST_CASE("QAT on digits_mlp: int8 no worse than post-training, learned ranges used",
          "[qat]") {
  const Digits d(20);
  const TrainData td = d.train_data();
  QatOptions o;
  o.epochs = 3;
  o.threads = 2;
  std::vector<TensorRange> ranges;
  const Model qat = qat_finetune(d.job.model, td, d.x.data(), 500, o, &ranges);
  QuantizeOptions qo;
  qo.method = CalibrationMethod::kMinMax;
  const Model ptq = quantize_model(d.job.model, d.x.data(), d.y.data(), 500, qo, nullptr);
  qo.ranges = ranges;
  const Model q = quantize_model(qat, d.x.data(), d.y.data(), 500, qo, nullptr);
  const double acc_f = d.accuracy(d.job.model), acc_ptq = d.accuracy(ptq), acc_qat = d.accuracy(q);
  INFO("float " << acc_f << ", PTQ int8 " << acc_ptq << ", QAT int8 " << acc_qat);
  CHECK(acc_qat >= acc_ptq - 0.005);
  CHECK(acc_qat >= acc_f - 0.01);
  // The int8 model's activation parameters come from the learned ranges.
  for (const Op& op : q.ops) {
    if (op.type != OpType::kDense) continue;
    const TensorRange& r = ranges[static_cast<size_t>(op.outputs[0])];
    REQUIRE(r.valid);
    const QuantParams p = choose_quant_params(r.lo, r.hi);
    CHECK(q.tensor(op.outputs[0]).quant.scale[0] == p.scale);
    CHECK(q.tensor(op.outputs[0]).quant.zero_point[0] == p.zero_point);
  }
  // Weights the QAT forward pass used are exactly the int8 weights, dequantized.
  const Tensor& wq = q.tensor(q.ops[0].inputs[1]);
  const Tensor& wf = qat.tensor(q.ops[0].inputs[1]);
  std::vector<float> fq(wf.f32.size());
  fake_quantize_weights(wf.f32.data(), fq.data(), wf.shape, 0);
  for (size_t i = 0; i < fq.size(); i += 37) {
    const size_t c = i / static_cast<size_t>(wf.shape[1]);
    CHECK(fq[i] == static_cast<float>(static_cast<double>(wq.quant.scale[c]) * wq.ints[i]));
  }
  // Deterministic.
  std::vector<TensorRange> ranges2;
  const Model again = qat_finetune(d.job.model, td, d.x.data(), 500, o, &ranges2);
  CHECK(serialize_model(again) == serialize_model(qat));
}

TEST_CASE("QAT recovers what post-training int8 loses to rare extreme activations", "[qat]") {
  // A hidden unit made to fire 200 times harder than usual on the few rows where a rarely
  // lit pixel is on: min/max calibration stretches the hidden tensor's range over those
  // rows, leaving every other row few int8 steps. QAT's moving-average ranges follow typical
  // batches instead, and training adapts to the clipping.
  const Digits d(20);
  Model m = d.job.model;
  const int64_t in = d.data.features;
  int64_t pixel = -1;
  double best = 1.0;
  for (int64_t p = 0; p < in; ++p) {
    int64_t lit = 0;
    for (int64_t r = 0; r < d.rows; ++r) lit += d.px[static_cast<size_t>(r * in + p)] > 0.0f;
    const double f = static_cast<double>(lit) / static_cast<double>(d.rows);
    if (f >= 0.002 && f < best) {
      best = f;
      pixel = p;
    }
  }
  REQUIRE(pixel >= 0);
  Tensor& w0 = m.tensor(m.ops[0].inputs[1]);
  const std::vector<std::vector<float>> values = run_model_tensors(m, d.x.data(), 200);
  const std::vector<float>& hidden = values[static_cast<size_t>(m.ops[0].outputs[0])];
  const float typical = *std::max_element(hidden.begin(), hidden.end());
  w0.f32[static_cast<size_t>(pixel)] += 200.0f * typical;  // unit 0, weight of `pixel`
  QuantizeOptions qo;
  qo.method = CalibrationMethod::kMinMax;
  const Model ptq = quantize_model(m, d.x.data(), d.y.data(), d.rows, qo, nullptr);
  QatOptions o;
  o.epochs = 5;
  o.threads = 2;
  std::vector<TensorRange> ranges;
  const Model qat = qat_finetune(m, d.train_data(), d.x.data(), d.rows, o, &ranges);
  qo.ranges = ranges;
  const Model q = quantize_model(qat, d.x.data(), d.y.data(), d.rows, qo, nullptr);
  const double acc_f = d.accuracy(m), acc_ptq = d.accuracy(ptq), acc_qat = d.accuracy(q);
  INFO("pixel " << pixel << " lit in " << best << " of rows; float " << acc_f
                << ", PTQ int8 (min/max) " << acc_ptq << ", QAT int8 " << acc_qat);
  CHECK(acc_ptq <= acc_f - 0.01);
  CHECK(acc_qat - acc_ptq >= 0.5 * (acc_f - acc_ptq));
}
