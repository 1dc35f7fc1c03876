// Transparent huge pages for the training matrix. A shuffled epoch reads its rows in random
// order from a matrix far larger than the TLB covers with 4 KB pages (Fashion-MNIST: 188 MB);
// on machines whose THP setting is "madvise" (Debian's default) only advised ranges get
// 2 MB pages. Measured on fashion_mlp: the batch copy went from 48 to 35 kcycles per step.
#pragma once

#include <cstddef>
#include <cstdint>

#ifdef __linux__
#include <sys/mman.h>
#endif

namespace tinyc {

// Advises the whole 2 MB pages inside [p, p + bytes), before they are first written. A hint:
// failure (no THP, another OS) changes nothing but speed.
inline void advise_huge_pages(void* p, size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  constexpr uintptr_t kHuge = uintptr_t{2} << 20;
  const uintptr_t lo = (reinterpret_cast<uintptr_t>(p) + kHuge - 1) & ~(kHuge - 1);
  const uintptr_t hi = (reinterpret_cast<uintptr_t>(p) + bytes) & ~(kHuge - 1);
  if (hi > lo) (void)madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_HUGEPAGE);
#else
  (void)p;
  (void)bytes;
#endif
}

}  // namespace tinyc
