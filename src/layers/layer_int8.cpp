// The default int8 kernel of a layer: not supported (exit 4), naming the op.
#include "tinyc/error.h"
#include "tinyc/layer.h"

namespace tinyc {

void Layer::forward_int8(const Int8Binding& b) const {
  unsupported("layer '{}': op type '{}' has no int8 kernel yet; keep this model float32",
              b.op->name, op_type_name(b.op->type));
}

}  // namespace tinyc
