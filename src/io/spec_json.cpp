#include <cmath>
#include <set>

#include "layers/activation_fn.h"
#include "tinyc/error.h"
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
               "momentum", "beta1", "beta2", "epsilon"});
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
  }
  ModelSpec spec;
  spec.source = source;
  const Reader r(doc, "$", source);
  r.only_keys({"name", "input", "task", "preprocess", "split", "init", "layers", "train", "labels"});
  spec.name = r.has("name") ? r.at("name").str() : "model";
  if (!r.has("input")) r.error("missing \"input\" (the per-sample input shape, e.g. [1])");
  const Reader in = r.at("input");
  for (size_t i = 0; i < in.array_size(); ++i) {
    spec.input.push_back(static_cast<int>(in.at(i).integer(1, 1 << 24)));
  }
  if (spec.input.empty()) in.error("input shape is empty");
  if (r.has("train")) parse_train(r.at("train"), &spec.train);
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
    if (op_type == OpType::kDense) {
      const auto units = l["units"].get<int>();
      const int64_t fan_in = m.tensor(cur).sample_size();
      if (m.tensor(cur).shape.size() != 2) {
        bad_input("{}: $.layers[{}]: dense expects a flat input but gets {}; add a flatten layer before it",
                  spec.source, i, shape_str(m.tensor(cur).sample_shape()));
      }
      op.set_int("units", units);
      const bool fused = act == "relu" || act == "relu6";
      op.set_str("activation", fused ? act : "none");
      Tensor w, b;
      w.name = op.name + "/weights";
      w.role = TensorRole::kWeight;
      w.shape = {units, static_cast<int>(fan_in)};
      w.f32.assign(static_cast<size_t>(w.size()), 0.0f);
      Rng rng(mix_seed(seed, i));
      init_weights(w.f32, l.value("init", spec.init), fan_in, units, rng);
      b.name = op.name + "/bias";
      b.role = TensorRole::kWeight;
      b.shape = {units};
      b.f32.assign(static_cast<size_t>(units), 0.0f);
      const int wi = m.add_tensor(std::move(w));
      const int bi = m.add_tensor(std::move(b));
      cur = append_op(m, std::move(op), cur, {wi, bi}, spec.source, i);
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
      continue;
    }
    if (op_type == OpType::kDropout) op.set_float("rate", l.value("rate", 0.5f));
    if (op_type == OpType::kActivation) {
      if (act == "softmax") {
        op.type = OpType::kSoftmax;
      } else {
        op.set_str("activation", act);
      }
    }
    cur = append_op(m, std::move(op), cur, {}, spec.source, i);
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
