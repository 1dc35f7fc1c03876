// The one list of op types: it drives the OpType enum, op names and the layer registry.
// TINYC_OP(EnumName, snake_name): enum OpType::kEnumName, spec/file name "snake_name",
// implementation returned by snake_name_layer() in src/layers/snake_name.cpp.
// Adding a layer: a line here, its file in src/layers/, one test case.
TINYC_OP(Dense, dense)
TINYC_OP(Flatten, flatten)
TINYC_OP(Dropout, dropout)
TINYC_OP(Activation, activation)
TINYC_OP(Softmax, softmax)
TINYC_OP(Conv2d, conv2d)
TINYC_OP(DepthwiseConv2d, depthwise_conv2d)
TINYC_OP(MaxPool2d, max_pool2d)
TINYC_OP(AvgPool2d, avg_pool2d)
TINYC_OP(GlobalAvgPool2d, global_avg_pool2d)
TINYC_OP(BatchNorm, batch_norm)
TINYC_OP(Reshape, reshape)
TINYC_OP(Lstm, lstm)
TINYC_OP(Svdf, svdf)
