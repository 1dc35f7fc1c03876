// Pieces of the code writer: float literals read back exactly, identifiers are valid and
// unique, initializers keep matrix rows.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdlib>
#include <limits>

#include "emit/code_writer.h"
#include "tinyc/error.h"

using tinyc::float_literal;

TEST_CASE("code writer: float literals round-trip and are valid C", "[emit][writer]") {
  CHECK(float_literal(0.5f, "x") == "0.5f");
  CHECK(float_literal(-3.0f, "x") == "-3.0f");
  CHECK(float_literal(0.0f, "x") == "0.0f");
  CHECK(float_literal(-0.0f, "x") == "-0.0f");
  for (float v : {1e-5f, 0.1f, 3.4028235e38f, 1.17549435e-38f, 1e-45f, -123456.78f,
                  0.0625f, 16777217.0f, 2.5e10f}) {
    const std::string s = float_literal(v, "x");
    INFO(s);
    CHECK(s.back() == 'f');
    CHECK(s.find_first_of(".e") != std::string::npos);  // never an integer with an f suffix
    CHECK(std::strtof(s.c_str(), nullptr) == v);
  }
  CHECK_THROWS_AS(float_literal(std::numeric_limits<float>::infinity(), "x"), tinyc::Error);
  CHECK_THROWS_AS(float_literal(std::nanf(""), "x"), tinyc::Error);
}

TEST_CASE("code writer: identifiers", "[emit][writer]") {
  std::set<std::string> used;
  CHECK(tinyc::unique_identifier("dense_1/weights", &used) == "dense_1_weights");
  CHECK(tinyc::unique_identifier("dense_1/weights", &used) == "dense_1_weights_2");
  CHECK(tinyc::unique_identifier("3x", &used) == "_3x");
  CHECK(tinyc::unique_identifier("a;b c", &used) == "a_b_c");
  CHECK(tinyc::is_c_identifier("digits_mlp"));
  CHECK_FALSE(tinyc::is_c_identifier("9lives"));
  CHECK_FALSE(tinyc::is_c_identifier("a-b"));
  CHECK_FALSE(tinyc::is_c_identifier(""));
}

TEST_CASE("code writer: initializers keep matrix rows", "[emit][writer]") {
  const std::string flat = tinyc::initializer({"1", "2", "3"}, 0, 0);
  CHECK(flat == "{\n  1, 2, 3\n}");
  const std::string rows = tinyc::initializer({"1", "2", "3", "4"}, 2, 0);
  CHECK(rows == "{\n  {1, 2},\n  {3, 4}\n}");
  const std::string one_row = tinyc::initializer({"1", "2"}, 1, 0);
  CHECK(one_row == "{\n  {1, 2}\n}");
}
