// MNIST-style IDX directories (plain or gzip files) and the load_data dispatcher.
#include <cstring>
#include <string>
#include <vector>

#include "tinyc/data.h"
#include "tinyc/error.h"
#include "tinyc/fileio.h"
#include "tinyc/limits.h"

namespace tinyc {
namespace {

// IDX magic numbers: two zero bytes, the element type (0x08 = unsigned byte), the rank.
constexpr uint32_t kImagesMagic = 0x00000803;
constexpr uint32_t kLabelsMagic = 0x00000801;
constexpr size_t kImagesHeaderBytes = 16;
constexpr size_t kLabelsHeaderBytes = 8;

uint32_t read_be32(const std::string& bytes, size_t offset) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data()) + offset;
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

// The file for `stem` in `dir`: the official name, the dotted variant some mirrors use
// (train-images.idx3-ubyte), each plain or gzip. Empty when none exists.
std::string find_idx_file(const std::string& dir, const std::string& stem) {
  std::string dotted = stem;
  dotted[dotted.find("-idx")] = '.';
  for (const std::string& name : {stem, dotted}) {
    for (const char* suffix : {"", ".gz"}) {
      const std::string path = dir + "/" + name + suffix;
      if (file_exists(path) && !is_directory(path)) return path;
    }
  }
  return "";
}

struct IdxImages {
  int64_t count = 0;
  int rows = 0;
  int cols = 0;
  std::string bytes;  // whole file; pixels start at kImagesHeaderBytes
};

struct IdxLabels {
  int64_t count = 0;
  std::string bytes;  // whole file; labels start at kLabelsHeaderBytes
};

const char* magic_hint(uint32_t magic) {
  if (magic == kLabelsMagic) return "this is a labels file";
  if (magic == kImagesMagic) return "this is an images file";
  return "not an unsigned-byte IDX file";
}

IdxImages read_images(const std::string& path) {
  IdxImages images;
  images.bytes = read_file(path);
  const std::string& b = images.bytes;
  // The magic number first: a wrong file is more likely than a truncated one.
  const uint32_t magic = b.size() >= 4 ? read_be32(b, 0) : 0;
  if (b.size() >= 4 && magic != kImagesMagic) {
    bad_input("{}: bad magic number 0x{:08x}, expected 0x{:08x} for IDX images ({})", path, magic,
              kImagesMagic, magic_hint(magic));
  }
  if (b.size() < kImagesHeaderBytes) {
    bad_input("{}: {} bytes, too short for an IDX images header (16 bytes; the file is truncated)",
              path, b.size());
  }
  const uint32_t count = read_be32(b, 4), rows = read_be32(b, 8), cols = read_be32(b, 12);
  if (rows == 0 || cols == 0 || rows > 65535 || cols > 65535) {
    bad_input("{}: implausible image size {}x{} in the IDX header", path, rows, cols);
  }
  const uint64_t expected = kImagesHeaderBytes + uint64_t{count} * rows * cols;
  if (b.size() != expected) {
    bad_input("{}: {} bytes, expected {} for {} images of {}x{} ({})", path, b.size(), expected,
              count, rows, cols, b.size() < expected ? "the file is truncated" : "trailing bytes");
  }
  images.count = count;
  images.rows = static_cast<int>(rows);
  images.cols = static_cast<int>(cols);
  return images;
}

IdxLabels read_labels(const std::string& path) {
  IdxLabels labels;
  labels.bytes = read_file(path);
  const std::string& b = labels.bytes;
  // The magic number first: a wrong file is more likely than a truncated one.
  const uint32_t magic = b.size() >= 4 ? read_be32(b, 0) : 0;
  if (b.size() >= 4 && magic != kLabelsMagic) {
    bad_input("{}: bad magic number 0x{:08x}, expected 0x{:08x} for IDX labels ({})", path, magic,
              kLabelsMagic, magic_hint(magic));
  }
  if (b.size() < kLabelsHeaderBytes) {
    bad_input("{}: {} bytes, too short for an IDX labels header (8 bytes; the file is truncated)",
              path, b.size());
  }
  const uint32_t count = read_be32(b, 4);
  const uint64_t expected = kLabelsHeaderBytes + uint64_t{count};
  if (b.size() != expected) {
    bad_input("{}: {} bytes, expected {} for {} labels ({})", path, b.size(), expected, count,
              b.size() < expected ? "the file is truncated" : "trailing bytes");
  }
  labels.count = count;
  return labels;
}

struct IdxPair {
  IdxImages images;
  IdxLabels labels;
};

IdxPair read_pair(const std::string& images_path, const std::string& labels_path) {
  IdxPair pair{read_images(images_path), read_labels(labels_path)};
  if (pair.images.count != pair.labels.count) {
    bad_input("{}: {} images but {} has {} labels (the two files must match)", images_path,
              pair.images.count, labels_path, pair.labels.count);
  }
  return pair;
}

// Appends a pair's rows to `data` (whose capacity the caller reserved), tagging them.
void append_pair(const IdxPair& pair, SplitTag tag, Dataset* data) {
  const auto* pixels =
      reinterpret_cast<const unsigned char*>(pair.images.bytes.data()) + kImagesHeaderBytes;
  const auto* labels =
      reinterpret_cast<const unsigned char*>(pair.labels.bytes.data()) + kLabelsHeaderBytes;
  // Inserting from the byte range converts element by element without first zero-filling the
  // floats; both loops vectorize, which keeps 47M pixels well under the gzip inflation time.
  data->x.insert(data->x.end(), pixels, pixels + pair.images.count * data->features);
  data->y.insert(data->y.end(), labels, labels + pair.labels.count);
  data->split.insert(data->split.end(), static_cast<size_t>(pair.images.count), tag);
  data->rows += pair.images.count;
}

}  // namespace

Dataset load_idx_dir(const std::string& dir) {
  const std::string train_images = find_idx_file(dir, "train-images-idx3-ubyte");
  const std::string train_labels = find_idx_file(dir, "train-labels-idx1-ubyte");
  if (train_images.empty() || train_labels.empty()) {
    bad_input("{}: no {} found (an IDX directory holds train-images-idx3-ubyte[.gz] and "
              "train-labels-idx1-ubyte[.gz], optionally t10k-images-idx3-ubyte[.gz] and "
              "t10k-labels-idx1-ubyte[.gz])",
              dir,
              train_images.empty() ? "train-images-idx3-ubyte[.gz]"
                                   : "train-labels-idx1-ubyte[.gz]");
  }
  const std::string test_images = find_idx_file(dir, "t10k-images-idx3-ubyte");
  const std::string test_labels = find_idx_file(dir, "t10k-labels-idx1-ubyte");
  if (test_images.empty() != test_labels.empty()) {
    bad_input("{}: {} found without {} (the test split needs both files, or neither)", dir,
              test_images.empty() ? test_labels : test_images,
              test_images.empty() ? "t10k-images-idx3-ubyte[.gz]" : "t10k-labels-idx1-ubyte[.gz]");
  }

  const IdxPair train = read_pair(train_images, train_labels);
  if (train.images.count == 0) bad_input("{}: holds no images", train_images);
  IdxPair test;
  if (!test_images.empty()) {
    test = read_pair(test_images, test_labels);
    if (test.images.rows != train.images.rows || test.images.cols != train.images.cols) {
      bad_input("{}: images are {}x{}, but the train images are {}x{}", test_images,
                test.images.rows, test.images.cols, train.images.rows, train.images.cols);
    }
  }

  Dataset data;
  data.source = dir;
  data.sample_shape = {train.images.rows, train.images.cols};
  data.features = int64_t{train.images.rows} * train.images.cols;
  const auto rows = static_cast<size_t>(train.images.count + test.images.count);
  check_memory(static_cast<double>(rows) * (static_cast<double>(data.features) * sizeof(float) +
                                            sizeof(float) + sizeof(SplitTag)),
               fmt::format("{}: {} images of {}x{}", dir, rows, train.images.rows,
                           train.images.cols));
  data.x.reserve(rows * static_cast<size_t>(data.features));
  data.y.reserve(rows);
  data.split.reserve(rows);
  append_pair(train, SplitTag::kNone, &data);
  if (!test_images.empty()) append_pair(test, SplitTag::kTest, &data);
  return data;
}

Dataset load_data(const std::string& path, const CsvOptions& options) {
  if (is_directory(path)) {
    if (!options.label.empty()) {
      fail(ExitCode::kUsage, "--label applies to CSV files, and {} is an IDX directory", path);
    }
    return load_idx_dir(path);
  }
  return load_csv(path, options);
}

}  // namespace tinyc
