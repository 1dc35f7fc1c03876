// The dense layer's blocked float products against plain loops, over shapes that exercise
// every remainder path (units not a multiple of the block, inputs not a multiple of 16).
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "layers/dense_kernels.h"

namespace tinyc {
namespace {

float value(int64_t i, int salt) {
  return static_cast<float>((i * 2654435761u + static_cast<uint64_t>(salt) * 40503u) % 2001) / 1000.0f - 1.0f;
}

TEST_CASE("dense float products match plain loops on every remainder path") {
  for (int64_t in : {1, 7, 16, 17, 33, 64, 79, 784}) {
    for (int64_t units : {1, 3, 4, 6, 7, 8, 13, 20}) {
      for (int64_t n : {0, 1, 2, 3, 5}) {
        const int64_t ld = units + 3;  // a wider row than the units written, as in split layers
        std::vector<float> x(static_cast<size_t>(n * in)), w(static_cast<size_t>(units * in));
        std::vector<float> dz(static_cast<size_t>(n * ld));
        for (size_t i = 0; i < x.size(); ++i) x[i] = value(static_cast<int64_t>(i), 1);
        for (size_t i = 0; i < w.size(); ++i) w[i] = value(static_cast<int64_t>(i), 2);
        for (size_t i = 0; i < dz.size(); ++i) dz[i] = value(static_cast<int64_t>(i), 3);
        std::vector<float> y(static_cast<size_t>(n * ld), 42.0f);
        std::vector<float> dw(static_cast<size_t>(units * in), 42.0f);
        dense_forward_product(x.data(), w.data(), n, in, units, y.data(), ld);
        dense_weight_gradient(dz.data(), ld, x.data(), n, in, units, dw.data());
        INFO("in " << in << " units " << units << " n " << n);
        for (int64_t r = 0; r < n; ++r) {
          for (int64_t u = 0; u < ld; ++u) {
            double expect = 42.0;
            if (u < units) {
              expect = 0.0;
              for (int64_t i = 0; i < in; ++i) expect += double(w[size_t(u * in + i)]) * x[size_t(r * in + i)];
            }
            REQUIRE(std::abs(y[size_t(r * ld + u)] - expect) <= 1e-4 * (1.0 + std::abs(expect)));
          }
        }
        for (int64_t u = 0; u < units; ++u) {
          for (int64_t i = 0; i < in; ++i) {
            double expect = 0.0;
            for (int64_t r = 0; r < n; ++r) expect += double(dz[size_t(r * ld + u)]) * x[size_t(r * in + i)];
            REQUIRE(std::abs(dw[size_t(u * in + i)] - expect) <= 1e-4 * (1.0 + std::abs(expect)));
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace tinyc
