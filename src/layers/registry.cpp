// Builds the layer registry from the one op list (include/tinyc/op_list.h).
#include "tinyc/layer.h"

namespace tinyc {

#define TINYC_OP(name, snake) const Layer& snake##_layer();
#include "tinyc/op_list.h"
#undef TINYC_OP

const Layer& layer_for(OpType type) {
  switch (type) {
#define TINYC_OP(name, snake) \
  case OpType::k##name:       \
    return snake##_layer();
#include "tinyc/op_list.h"
#undef TINYC_OP
  }
  return dense_layer();  // unreachable: the switch covers every OpType
}

std::vector<Shape> op_input_shapes(const Model& model, const Op& op) {
  std::vector<Shape> shapes;
  for (int t : op.inputs) shapes.push_back(t < 0 ? Shape{} : model.tensor(t).shape);
  return shapes;
}

std::vector<Shape> op_output_shapes(const Model& model, const Op& op) {
  std::vector<Shape> shapes;
  for (int t : op.outputs) shapes.push_back(model.tensor(t).shape);
  return shapes;
}

}  // namespace tinyc
