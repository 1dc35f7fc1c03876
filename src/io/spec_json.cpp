#include <array>
#include <cmath>
#include <set>

#include "layers/activation_fn.h"
#include "tinyc/error.h"
#include "tinyc/limits.h"
#include "tinyc/fileio.h"
#include "tinyc/layer.h"
#include "tinyc/rng.h"
#include "tinyc/spec.h"
#include "tinyc/version.h"

namespace tinyc {
namespace {

using nlohmann::json;

// Walks a JSON document with the path of the current node, so every error names its place.
class Reader {
 public:
  Reader(const json& node, std::string path, const std::string& source)
      : node_(node), path_(std::move(path)), source_(source) {}

  template <typename... Args>
  [[noreturn]] void error(fmt::format_string<Args...> format, Args&&... args) const {
    bad_input("{}: {}: {}", source_, path_, fmt::format(format, std::forward<Args>(args)...));
  }

  void require_object() const {
    if (!node_.is_object()) error("expected an object, got {}", node_.type_name());
  }

  // Rejects keys outside `allowed`.
  void only_keys(std::initializer_list<const char*> allowed) const {
    require_object();
    for (auto it = node_.begin(); it != node_.end(); ++it) {
      bool ok = false;
      for (const char* k : allowed) ok = ok || it.key() == k;
      if (!ok) {
        std::string list;
        for (const char* k : allowed) list += (list.empty() ? "" : ", ") + std::string(k);
        Reader(node_, path_ + "." + it.key(), source_).error("unknown key (expected one of: {})", list);
      }
    }
  }

  bool has(const char* key) const { return node_.contains(key); }
  Reader at(const char* key) const { return Reader(node_.at(key), path_ + "." + key, source_); }
  Reader at(size_t i) const { return Reader(node_.at(i), path_ + "[" + std::to_string(i) + "]", source_); }
  const json& node() const { return node_; }
  const std::string& path() const { return path_; }

  std::string str() const {
    if (!node_.is_string()) error("expected a string, got {}", node_.type_name());
    return node_.get<std::string>();
  }
  std::string str_in(std::initializer_list<const char*> values) const {
    const std::string s = str();
    std::string list;
    for (const char* v : values) {
      if (s == v) return s;
      list += (list.empty() ? "" : ", ") + std::string(v);
    }
    error("unknown value '{}' (expected one of: {})", s, list);
  }
  double number(double lo, double hi) const {
    if (!node_.is_number()) error("expected a number, got {}", node_.type_name());
    const double v = node_.get<double>();
    if (!(v >= lo && v <= hi)) error("{} is out of range [{}, {}]", v, lo, hi);
    return v;
  }
  int64_t integer(int64_t lo, int64_t hi) const {
    if (!node_.is_number_integer()) error("expected an integer, got {}", node_.dump());
    const auto v = node_.get<int64_t>();
    if (v < lo || v > hi) error("{} is out of range [{}, {}]", v, lo, hi);
    return v;
  }
  bool boolean() const {
    if (!node_.is_boolean()) error("expected true or false, got {}", node_.dump());
    return node_.get<bool>();
  }
  size_t array_size() const {
    if (!node_.is_array()) error("expected an array, got {}", node_.type_name());
    return node_.size();
  }

 private:
  const json& node_;
  std::string path_;
  const std::string& source_;
};

void parse_train(const Reader& r, TrainConfig* t) {
  r.only_keys({"loss", "optimizer", "lr", "batch", "epochs", "early_stopping", "shuffle",
               "momentum", "beta1", "beta2", "epsilon", "schedule", "weight_decay"});
  if (r.has("loss")) t->loss = r.at("loss").str_in({"mse", "cross_entropy"});
  if (r.has("optimizer")) t->optimizer = r.at("optimizer").str_in({"sgd", "momentum", "adam"});
  if (r.has("lr")) t->lr = static_cast<float>(r.at("lr").number(1e-12, 1e3));
  if (r.has("batch")) t->batch = r.at("batch").integer(1, 1 << 24);
  if (r.has("epochs")) t->epochs = static_cast<int>(r.at("epochs").integer(1, 1000000));
  if (r.has("shuffle")) t->shuffle = r.at("shuffle").boolean();
  if (r.has("momentum")) t->momentum = static_cast<float>(r.at("momentum").number(0, 0.999999));
  if (r.has("beta1")) t->beta1 = static_cast<float>(r.at("beta1").number(0, 0.999999));
  if (r.has("beta2")) t->beta2 = static_cast<float>(r.at("beta2").number(0, 0.999999999));
  if (r.has("epsilon")) t->epsilon = static_cast<float>(r.at("epsilon").number(0, 1));
  if (r.has("early_stopping")) {
    const Reader es = r.at("early_stopping");
    es.only_keys({"patience"});
    t->patience = static_cast<int>(es.at("patience").integer(1, 1000000));
  }
  if (r.has("weight_decay")) t->weight_decay = static_cast<float>(r.at("weight_decay").number(0, 1));
  if (r.has("schedule")) {
    const Reader s = r.at("schedule");
    s.only_keys({"type", "step_epochs", "gamma", "min_lr"});
    if (!s.has("type")) s.error("schedule needs a \"type\" (constant, step, cosine)");
    t->schedule = s.at("type").str_in({"constant", "step", "cosine"});
    if (s.has("step_epochs")) t->step_epochs = static_cast<int>(s.at("step_epochs").integer(1, 1000000));
    if (s.has("gamma")) t->gamma = static_cast<float>(s.at("gamma").number(1e-6, 1.0));
    if (s.has("min_lr")) t->min_lr = static_cast<float>(s.at("min_lr").number(0, 1e3));
  }
}

void parse_augment(const Reader& r, const Shape& input, AugmentConfig* a) {
  r.only_keys({"shift", "flip_horizontal", "noise"});
  if (r.has("shift")) a->shift = static_cast<int>(r.at("shift").integer(0, 64));
  if (r.has("flip_horizontal")) a->flip_horizontal = r.at("flip_horizontal").boolean();
  if (r.has("noise")) a->noise = static_cast<float>(r.at("noise").number(0, 100));
  if ((a->shift > 0 || a->flip_horizontal) && input.size() != 3) {
    r.error("shift and flip_horizontal need an image input [H, W, C], the input is {}",
            shape_str(input));
  }
}

// kernel, stride, pool: an int (both dimensions) or [h, w].
void check_pair(const Reader& r) {
  if (r.node().is_number_integer()) {
    r.integer(1, 1 << 16);
    return;
  }
  if (r.array_size() != 2) r.error("expected an integer or [h, w], got {}", r.node().dump());
  r.at(size_t{0}).integer(1, 1 << 16);
  r.at(size_t{1}).integer(1, 1 << 16);
}

void check_layer(const Reader& r) {
  r.require_object();
  if (!r.has("type")) r.error("layer needs a \"type\"");
  const std::string type = r.at("type").str();
  OpType op_type;
  if (!parse_op_type(type, &op_type)) {
    std::string list;
#define TINYC_OP(name, snake) list += (list.empty() ? "" : ", ") + std::string(#snake);
#include "tinyc/op_list.h"
#undef TINYC_OP
    r.at("type").error("unknown layer type '{}' (expected one of: {})", type, list);
  }
  auto check_act = [&](const char* key) {
    if (!r.has(key)) return;
    const std::string a = r.at(key).str();
    ActKind kind;
    if (a != "softmax" && !parse_act(a, &kind)) {
      r.at(key).error("unknown activation '{}' (expected linear, relu, relu6, sigmoid, tanh, softmax)", a);
    }
  };
  switch (op_type) {
    case OpType::kDense:
      r.only_keys({"type", "name", "units", "activation", "init"});
      if (!r.has("units")) r.error("dense layer needs \"units\"");
      r.at("units").integer(1, 1 << 20);
      check_act("activation");
      if (r.has("init")) r.at("init").str_in({"glorot", "he", "zeros"});
      break;
    case OpType::kDropout:
      r.only_keys({"type", "name", "rate"});
      if (r.has("rate")) r.at("rate").number(0.0, 0.99);
      break;
    case OpType::kActivation:
      r.only_keys({"type", "name", "activation"});
      if (!r.has("activation")) r.error("activation layer needs \"activation\"");
      check_act("activation");
      break;
    case OpType::kConv2d:
    case OpType::kDepthwiseConv2d: {
      const bool depthwise = op_type == OpType::kDepthwiseConv2d;
      if (depthwise) {
        r.only_keys({"type", "name", "kernel", "depth_multiplier", "stride", "padding",
                     "activation", "init"});
        if (r.has("depth_multiplier")) r.at("depth_multiplier").integer(1, 1 << 16);
      } else {
        r.only_keys({"type", "name", "filters", "kernel", "stride", "padding", "activation", "init"});
        if (!r.has("filters")) r.error("conv2d layer needs \"filters\"");
        r.at("filters").integer(1, 1 << 16);
      }
      if (!r.has("kernel")) r.error("{} layer needs \"kernel\" (an int or [h, w])", type);
      check_pair(r.at("kernel"));
      if (r.has("stride")) check_pair(r.at("stride"));
      if (r.has("padding")) r.at("padding").str_in({"valid", "same"});
      check_act("activation");
      if (r.has("init")) r.at("init").str_in({"glorot", "he", "zeros"});
      break;
    }
    case OpType::kMaxPool2d:
    case OpType::kAvgPool2d:
      r.only_keys({"type", "name", "pool", "stride", "padding"});
      if (!r.has("pool")) r.error("{} layer needs \"pool\" (an int or [h, w])", type);
      check_pair(r.at("pool"));
      if (r.has("stride")) check_pair(r.at("stride"));
      if (r.has("padding")) r.at("padding").str_in({"valid", "same"});
      break;
    case OpType::kBatchNorm:
      r.only_keys({"type", "name", "momentum", "epsilon", "activation"});
      if (r.has("momentum")) r.at("momentum").number(0.0, 0.999999);
      if (r.has("epsilon")) r.at("epsilon").number(1e-12, 0.5);
      check_act("activation");
      break;
    case OpType::kReshape: {
      r.only_keys({"type", "name", "shape"});
      if (!r.has("shape")) r.error("reshape layer needs \"shape\" (the per-sample target shape)");
      const Reader shape = r.at("shape");
      if (shape.array_size() == 0) shape.error("shape is empty");
      int inferred = 0;
      for (size_t i = 0; i < shape.array_size(); ++i) {
        if (shape.at(i).integer(-1, 1 << 24) == 0) shape.at(i).error("dimensions must be >= 1 (or one -1)");
        if (shape.at(i).node().get<int64_t>() == -1 && ++inferred > 1) shape.at(i).error("only one dimension may be -1");
      }
      break;
    }
    default:
      r.only_keys({"type", "name"});
      break;
  }
  if (r.has("name")) r.at("name").str();
}

}  // namespace

ModelSpec parse_spec(const std::string& text, const std::string& source) {
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::parse_error& e) {
    // Turn the byte offset into line:column.
    size_t line = 1, col = 1;
    for (size_t i = 0; i + 1 < e.byte && i < text.size(); ++i) {
      if (text[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    bad_input("{}:{}:{}: invalid JSON ({})", source, line, col, e.what());
  } catch (const json::exception& e) {
    // Numbers too large for a double (1e999) and the like: json reports no position.
    bad_input("{}: invalid JSON ({})", source, e.what());
  }
  ModelSpec spec;
  spec.source = source;
  const Reader r(doc, "$", source);
  r.only_keys({"name", "input", "task", "preprocess", "split", "init", "layers", "train", "labels",
               "augment"});
  spec.name = r.has("name") ? r.at("name").str() : "model";
  if (!r.has("input")) r.error("missing \"input\" (the per-sample input shape, e.g. [1])");
  const Reader in = r.at("input");
  for (size_t i = 0; i < in.array_size(); ++i) {
    spec.input.push_back(static_cast<int>(in.at(i).integer(1, 1 << 24)));
  }
  if (spec.input.empty()) in.error("input shape is empty");
  if (r.has("train")) parse_train(r.at("train"), &spec.train);
  if (r.has("augment")) parse_augment(r.at("augment"), spec.input, &spec.train.augment);
  if (r.has("task")) {
    spec.task = r.at("task").str_in({"classification", "regression"}) == "classification"
                    ? Task::kClassification
                    : Task::kRegression;
  } else {
    spec.task = spec.train.loss == "cross_entropy" ? Task::kClassification : Task::kRegression;
  }
  const std::string fitting_loss = spec.task == Task::kClassification ? "cross_entropy" : "mse";
  if (spec.train.loss.empty()) spec.train.loss = fitting_loss;
  if (spec.train.loss != fitting_loss) {
    r.at("train").at("loss").error("loss '{}' does not fit task '{}' (use {})", spec.train.loss,
                                   task_name(spec.task), fitting_loss);
  }
  if (r.has("preprocess")) {
    const Reader p = r.at("preprocess");
    p.only_keys({"normalize", "factor"});
    if (p.has("normalize")) {
      parse_norm_kind(p.at("normalize").str_in({"standard", "minmax", "scale", "none"}),
                      &spec.normalize);
    }
    if (p.has("factor")) {
      if (spec.normalize != NormKind::kScale) p.at("factor").error("\"factor\" needs normalize \"scale\"");
      spec.factor = static_cast<float>(p.at("factor").number(1e-30, 1e30));
    } else if (spec.normalize == NormKind::kScale) {
      p.error("normalize \"scale\" needs a \"factor\"");
    }
  }
  if (r.has("split")) {
    const Reader s = r.at("split");
    s.only_keys({"val", "test"});
    if (s.has("val")) spec.val = s.at("val").number(0.0, 0.9);
    if (s.has("test")) spec.test = s.at("test").number(0.0, 0.9);
    if (spec.val + spec.test >= 1.0) s.error("val + test must leave rows for training");
  }
  if (r.has("init")) spec.init = r.at("init").str_in({"glorot", "he", "zeros"});
  if (r.has("labels")) {
    const Reader l = r.at("labels");
    for (size_t i = 0; i < l.array_size(); ++i) spec.labels.push_back(l.at(i).str());
  }
  if (!r.has("layers")) r.error("missing \"layers\"");
  const Reader layers = r.at("layers");
  if (layers.array_size() == 0) layers.error("needs at least one layer");
  for (size_t i = 0; i < layers.array_size(); ++i) check_layer(layers.at(i));
  spec.layers = layers.node();
  if (spec.train.patience > 0 && spec.val <= 0.0) {
    // Allowed here: data with a fixed split column may still provide validation rows; the
    // trainer checks that the validation split is non-empty.
  }
  spec.compact_json = doc.dump();
  return spec;
}

ModelSpec load_spec(const std::string& path) { return parse_spec(read_file(path), path); }

namespace {

// Appends an op, inferring its output shape and creating its output tensor.
int append_op(Model& m, Op op, int input, std::vector<int> weights, const std::string& source,
              size_t layer_index) {
  op.inputs = {input};
  op.inputs.insert(op.inputs.end(), weights.begin(), weights.end());
  std::vector<Shape> out;
  try {
    out = layer_for(op.type).infer_shapes(op, op_input_shapes(m, op));
  } catch (const Error& e) {
    bad_input("{}: $.layers[{}]: {}", source, layer_index, e.what());
  }
  Tensor t;
  t.name = op.name;
  t.shape = out.at(0);
  const int index = m.add_tensor(std::move(t));
  op.outputs = {index};
  m.ops.push_back(std::move(op));
  return index;
}

using Pair = std::array<int, 2>;

// An int (both dimensions) or [h, w], already checked by check_pair.
Pair json_pair(const json& v) {
  if (v.is_number_integer()) return {v.get<int>(), v.get<int>()};
  return {v[0].get<int>(), v[1].get<int>()};
}

void init_weights(FloatBuffer& w, const std::string& init, int64_t fan_in, int64_t fan_out,
                  Rng& rng) {
  if (init == "zeros") return;
  const double a = init == "he" ? std::sqrt(6.0 / static_cast<double>(fan_in))
                                : std::sqrt(6.0 / static_cast<double>(fan_in + fan_out));
  for (float& v : w) v = rng.uniform(static_cast<float>(-a), static_cast<float>(a));
}

}  // namespace

Model build_model(const ModelSpec& spec, uint64_t seed) {
  Model m;
  m.name = spec.name;
  m.task = spec.task;
  m.labels = spec.labels;
  m.spec_json = spec.compact_json;
  m.seed = seed;
  m.producer = std::string("tinyc ") + kVersion;
  Tensor in;
  in.name = "input";
  in.role = TensorRole::kInput;
  in.shape = {1};
  in.shape.insert(in.shape.end(), spec.input.begin(), spec.input.end());
  int cur = m.add_tensor(std::move(in));
  m.inputs = {cur};
  std::map<std::string, int> counts;
  std::set<std::string> names;
  double weight_bytes = 0.0;
  auto unique_name = [&](const std::string& type, const json& layer, size_t i) {
    std::string name = layer.contains("name") ? layer["name"].get<std::string>()
                                              : type + "_" + std::to_string(++counts[type]);
    if (!names.insert(name).second) bad_input("{}: $.layers[{}].name: duplicate layer name '{}'", spec.source, i, name);
    return name;
  };
  for (size_t i = 0; i < spec.layers.size(); ++i) {
    const json& l = spec.layers[i];
    const std::string type = l["type"].get<std::string>();
    OpType op_type;
    parse_op_type(type, &op_type);
    Op op;
    op.type = op_type;
    op.name = unique_name(type, l, i);
    std::string act = l.value("activation", std::string("linear"));
    const Shape in_shape = m.tensor(cur).shape;
    const std::string init = l.value("init", spec.init);
    Rng rng(mix_seed(seed, i));
    auto add_weight = [&](const char* suffix, Shape shape, float value, TensorRole role) {
      Tensor w;
      w.name = op.name + "/" + suffix;
      w.role = role;
      w.shape = std::move(shape);
      // Checked in doubles before allocating: absurd sizes must not overflow or reach the OS.
      double elements = 1.0;
      for (int64_t d : w.shape) elements *= static_cast<double>(d);
      weight_bytes += elements * sizeof(float);
      check_memory(weight_bytes, fmt::format("{}: $.layers[{}] ('{}', weights {})", spec.source,
                                             i, op.name, shape_str(w.shape)));
      w.f32.assign(static_cast<size_t>(w.size()), value);
      return w;
    };
    auto require_image = [&] {
      if (in_shape.size() == 4) return;
      bad_input("{}: $.layers[{}]: {} expects an image input (H, W, C) but gets {}; {}",
                spec.source, i, type, shape_str(m.tensor(cur).sample_shape()),
                in_shape.size() == 3 ? "declare a grayscale input as [H, W, 1]"
                                     : "add a reshape layer before it");
    };
    std::vector<int> weights;
    bool fuses_activation = false;  // relu/relu6 fuse; other activations follow as ops
    switch (op_type) {
      case OpType::kDense: {
        const auto units = l["units"].get<int>();
        const int64_t fan_in = m.tensor(cur).sample_size();
        if (in_shape.size() != 2) {
          bad_input("{}: $.layers[{}]: dense expects a flat input but gets {}; add a flatten layer before it",
                    spec.source, i, shape_str(m.tensor(cur).sample_shape()));
        }
        op.set_int("units", units);
        Tensor w = add_weight("weights", {units, static_cast<int>(fan_in)}, 0.0f, TensorRole::kWeight);
        init_weights(w.f32, init, fan_in, units, rng);
        weights = {m.add_tensor(std::move(w)),
                   m.add_tensor(add_weight("bias", {units}, 0.0f, TensorRole::kWeight))};
        fuses_activation = true;
        break;
      }
      case OpType::kConv2d:
      case OpType::kDepthwiseConv2d: {
        require_image();
        const Pair k = json_pair(l["kernel"]);
        const int channels = in_shape[3];
        Shape w_shape;
        int64_t fan_in = 0, fan_out = 0;
        if (op_type == OpType::kConv2d) {
          const auto filters = l["filters"].get<int>();
          op.set_int("filters", filters);
          w_shape = {filters, k[0], k[1], channels};
          fan_in = static_cast<int64_t>(k[0]) * k[1] * channels;
          fan_out = static_cast<int64_t>(k[0]) * k[1] * filters;
        } else {
          const int mult = l.value("depth_multiplier", 1);
          op.set_int("depth_multiplier", mult);
          w_shape = {1, k[0], k[1], channels * mult};
          fan_in = static_cast<int64_t>(k[0]) * k[1];  // each output sees one input channel
          fan_out = static_cast<int64_t>(k[0]) * k[1] * mult;
        }
        op.attrs["kernel"] = Attr{{k[0], k[1]}, {}, {}};
        const Pair stride = l.contains("stride") ? json_pair(l["stride"]) : Pair{1, 1};
        op.attrs["stride"] = Attr{{stride[0], stride[1]}, {}, {}};
        op.set_str("padding", l.value("padding", std::string("valid")));
        const int out_c = op_type == OpType::kConv2d ? w_shape[0] : w_shape[3];
        Tensor w = add_weight("weights", std::move(w_shape), 0.0f, TensorRole::kWeight);
        init_weights(w.f32, init, fan_in, fan_out, rng);
        weights = {m.add_tensor(std::move(w)),
                   m.add_tensor(add_weight("bias", {out_c}, 0.0f, TensorRole::kWeight))};
        fuses_activation = true;
        break;
      }
      case OpType::kMaxPool2d:
      case OpType::kAvgPool2d: {
        require_image();
        const Pair pool = json_pair(l["pool"]);
        const Pair stride = l.contains("stride") ? json_pair(l["stride"]) : pool;
        op.attrs["pool"] = Attr{{pool[0], pool[1]}, {}, {}};
        op.attrs["stride"] = Attr{{stride[0], stride[1]}, {}, {}};
        op.set_str("padding", l.value("padding", std::string("valid")));
        break;
      }
      case OpType::kGlobalAvgPool2d:
        require_image();
        break;
      case OpType::kBatchNorm: {
        // gamma 1, beta 0; moving statistics (role kState, never trained) start at 0 and 1.
        const int channels = in_shape.back();
        if (l.contains("epsilon")) op.set_float("epsilon", l["epsilon"].get<float>());
        if (l.contains("momentum")) op.set_float("momentum", l["momentum"].get<float>());
        weights = {m.add_tensor(add_weight("gamma", {channels}, 1.0f, TensorRole::kWeight)),
                   m.add_tensor(add_weight("beta", {channels}, 0.0f, TensorRole::kWeight)),
                   m.add_tensor(add_weight("moving_mean", {channels}, 0.0f, TensorRole::kState)),
                   m.add_tensor(add_weight("moving_var", {channels}, 1.0f, TensorRole::kState))};
        fuses_activation = true;
        break;
      }
      case OpType::kReshape: {
        Attr shape;
        for (const json& d : l["shape"]) shape.ints.push_back(d.get<int64_t>());
        op.attrs["shape"] = shape;
        break;
      }
      case OpType::kDropout:
        op.set_float("rate", l.value("rate", 0.5f));
        break;
      case OpType::kActivation:
        if (act == "softmax") {
          op.type = OpType::kSoftmax;
        } else {
          op.set_str("activation", act);
        }
        break;
      default:
        break;
    }
    if (!fuses_activation) {
      cur = append_op(m, std::move(op), cur, weights, spec.source, i);
      continue;
    }
    const bool fused = act == "relu" || act == "relu6";
    op.set_str("activation", fused ? act : "none");
    cur = append_op(m, std::move(op), cur, weights, spec.source, i);
    if (fused || act == "linear" || act == "none") continue;
    // sigmoid/tanh/softmax follow as ops of their own.
    Op post;
    post.name = unique_name(act == "softmax" ? "softmax" : "activation", json::object(), i);
    if (act == "softmax") {
      post.type = OpType::kSoftmax;
    } else {
      post.type = OpType::kActivation;
      post.set_str("activation", act);
    }
    cur = append_op(m, std::move(post), cur, {}, spec.source, i);
  }
  if (spec.task == Task::kClassification) {
    if (m.ops.back().type != OpType::kSoftmax) {
      Op sm;
      sm.type = OpType::kSoftmax;
      sm.name = unique_name("softmax", json::object(), spec.layers.size());
      cur = append_op(m, std::move(sm), cur, {}, spec.source, spec.layers.size() - 1);
    }
    if (m.tensor(cur).sample_size() < 2) {
      bad_input("{}: classification needs at least 2 output units, the last layer has {}",
                spec.source, m.tensor(cur).sample_size());
    }
    if (!m.labels.empty() && static_cast<int64_t>(m.labels.size()) != m.tensor(cur).sample_size()) {
      bad_input("{}: $.labels: {} labels for {} output units", spec.source, m.labels.size(),
                m.tensor(cur).sample_size());
    }
  }
  m.tensor(cur).role = TensorRole::kOutput;
  m.outputs = {cur};
  validate_model(m);
  return m;
}

}  // namespace tinyc
