// Reads a PNG screenshot (8-bit RGB or RGBA, not interlaced: what Chromium writes) with zlib
// and summarizes its pixels, so a test can tell a rendered chart page from a blank one.
#pragma once

#include <zlib.h>

#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>
#include <vector>

#include "test_util.h"

namespace tinyc_test {

struct PngStats {
  std::string error;     // empty when the file decoded
  int width = 0, height = 0;
  int64_t non_white = 0; // pixels with any channel below 240
  size_t colors = 0;     // distinct RGB values (counted up to 4096)
  bool has_blue = false, has_orange = false;  // the report palette's first two colours
};

inline uint32_t png_be32(const std::string& s, size_t at) {
  return (uint32_t(uint8_t(s[at])) << 24) | (uint32_t(uint8_t(s[at + 1])) << 16) |
         (uint32_t(uint8_t(s[at + 2])) << 8) | uint32_t(uint8_t(s[at + 3]));
}

inline PngStats png_stats(const std::string& path) {
  PngStats st;
  const std::string f = read_text(path);
  if (f.size() < 33 || f.compare(0, 8, "\x89PNG\r\n\x1a\n") != 0) return st.error = "not a PNG", st;
  std::string idat;
  int depth = 0, color = 0, interlace = 0;
  for (size_t at = 8; at + 12 <= f.size();) {
    const uint32_t len = png_be32(f, at);
    const std::string type = f.substr(at + 4, 4);
    if (at + 12 + len > f.size()) return st.error = "truncated chunk", st;
    if (type == "IHDR") {
      st.width = static_cast<int>(png_be32(f, at + 8));
      st.height = static_cast<int>(png_be32(f, at + 12));
      depth = uint8_t(f[at + 16]);
      color = uint8_t(f[at + 17]);
      interlace = uint8_t(f[at + 20]);
    } else if (type == "IDAT") {
      idat += f.substr(at + 8, len);
    }
    at += 12 + len;
  }
  if (depth != 8 || (color != 2 && color != 6) || interlace != 0) {
    return st.error = "unsupported PNG layout (want 8-bit RGB/RGBA, not interlaced)", st;
  }
  const size_t bpp = color == 6 ? 4 : 3, stride = bpp * static_cast<size_t>(st.width);
  std::vector<uint8_t> raw((stride + 1) * static_cast<size_t>(st.height));
  uLongf raw_size = static_cast<uLongf>(raw.size());
  if (uncompress(raw.data(), &raw_size, reinterpret_cast<const Bytef*>(idat.data()),
                 static_cast<uLong>(idat.size())) != Z_OK || raw_size != raw.size()) {
    return st.error = "bad IDAT stream", st;
  }
  std::vector<uint8_t> prev(stride, 0), cur(stride);
  std::set<uint32_t> colors;
  for (int y = 0; y < st.height; ++y) {
    const uint8_t* line = &raw[static_cast<size_t>(y) * (stride + 1)];
    const int filter = line[0];
    for (size_t i = 0; i < stride; ++i) {
      const int a = i >= bpp ? cur[i - bpp] : 0, b = prev[i], c = i >= bpp ? prev[i - bpp] : 0;
      int pred = 0;
      switch (filter) {
        case 1: pred = a; break;
        case 2: pred = b; break;
        case 3: pred = (a + b) / 2; break;
        case 4: {
          const int p = a + b - c, pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
          pred = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
          break;
        }
        default: break;
      }
      cur[i] = static_cast<uint8_t>(line[1 + i] + pred);
    }
    for (size_t x = 0; x < static_cast<size_t>(st.width); ++x) {
      const int r = cur[x * bpp], g = cur[x * bpp + 1], bl = cur[x * bpp + 2];
      if (r < 240 || g < 240 || bl < 240) ++st.non_white;
      if (colors.size() < 4096) colors.insert(uint32_t(r) << 16 | uint32_t(g) << 8 | uint32_t(bl));
      st.has_blue = st.has_blue || (r < 80 && g > 90 && g < 150 && bl > 150);   // #1f77b4
      st.has_orange = st.has_orange || (r > 230 && g > 100 && g < 160 && bl < 60);  // #ff7f0e
    }
    prev.swap(cur);
  }
  st.colors = colors.size();
  return st;
}

}  // namespace tinyc_test
