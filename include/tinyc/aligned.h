// 64-byte aligned float storage. Eigen's vectorized kernels peel differently depending on
// where a buffer starts, which changes the order of floating-point sums; with every buffer on
// a 64-byte boundary the same inputs give the same bytes in every run (DESIGN.md: determinism).
#pragma once

#include <cstddef>
#include <new>
#include <vector>

namespace tinyc {

template <typename T>
struct AlignedAllocator {
  using value_type = T;
  static constexpr std::align_val_t kAlignment{64};

  AlignedAllocator() = default;
  template <typename U>
  AlignedAllocator(const AlignedAllocator<U>&) {}  // NOLINT: allocator rebinding

  T* allocate(size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), kAlignment)); }
  void deallocate(T* p, size_t) { ::operator delete(p, kAlignment); }
  template <typename U>
  bool operator==(const AlignedAllocator<U>&) const { return true; }
  template <typename U>
  bool operator!=(const AlignedAllocator<U>&) const { return false; }
};

using FloatBuffer = std::vector<float, AlignedAllocator<float>>;

// Rounds a float count up to a whole number of 64-byte lines.
inline size_t align_floats(size_t n) { return (n + 15) / 16 * 16; }

}  // namespace tinyc
