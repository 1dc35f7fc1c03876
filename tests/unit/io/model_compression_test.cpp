// The compression record (what `tinyc compress` did, for reports) survives the model file,
// and a model without one loads without one.
#include <catch2/catch.hpp>

#include "tinyc/model_file.h"

TEST_CASE("model file: compression record round-trips", "[io][model_file][report]") {
  tinyc::Model m = tinyc::load_model(TINYC_SOURCE_DIR "/models/fashion_tiny.tinyc");
  CHECK(!m.compression.present);
  const std::string plain = tinyc::serialize_model(m);
  CHECK(!tinyc::deserialize_model(plain, "mem").compression.present);

  tinyc::CompressionRecord& c = m.compression;
  c.present = true;
  c.steps = "prune 0.5, quantize int8";
  c.before_params = 29000;
  c.before_nonzero = 28990;
  c.before_bytes = 116000;
  c.after_params = 29000;
  c.after_nonzero = 14500;
  c.after_bytes = 30000;
  c.samples = 10000;
  c.before_loss = 0.25;
  c.before_metric = 0.9173;
  c.after_loss = 0.26;
  c.after_metric = 0.9151;
  const std::string bytes = tinyc::serialize_model(m);
  CHECK(bytes != plain);
  const tinyc::Model back = tinyc::deserialize_model(bytes, "mem");
  CHECK(back.compression == c);
  CHECK(back == m);
  CHECK(tinyc::serialize_model(back) == bytes);
}
