// The barrier of the trainer's lockstep threads. A training step of a small model takes
// microseconds, far less than a futex wake-up, so a waiting thread first spins; but a thread
// whose partner is not running (preempted by another process, or not yet scheduled) must
// sleep rather than spin or yield. A yielding thread keeps its CPU busy, so the scheduler can
// neither move the preempted partner onto it nor favour it on wake-up: one foreign time slice
// then stalls both threads, step after step (measured: a 2-thread fashion_mlp step went from
// ~110 us of work to ~650 us when other processes were runnable). A sleeping thread frees its
// CPU, and the last thread to arrive wakes it (futex on Linux; elsewhere it yields).
#pragma once

#include <atomic>
#include <chrono>
#include <climits>
#include <cstdint>
#include <thread>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif
#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace tinyc {

class SpinBarrier {
 public:
  explicit SpinBarrier(int threads) : threads_(threads) {}

  void wait() {
    if (threads_ == 1) return;
    const uint32_t generation = generation_.load(std::memory_order_acquire);
    if (arrived_.fetch_add(1, std::memory_order_acq_rel) == threads_ - 1) {
      arrived_.store(0, std::memory_order_relaxed);
      generation_.fetch_add(1, std::memory_order_seq_cst);
      if (sleepers_.load(std::memory_order_seq_cst) > 0) wake_all();
      return;
    }
    // Spin while the others are probably about to arrive: checks the clock every 64 polls.
    const auto deadline = std::chrono::steady_clock::now() + kSpin;
    for (int polls = 1;; ++polls) {
      if (generation_.load(std::memory_order_acquire) != generation) return;
      pause();
      if (polls % 64 == 0 && std::chrono::steady_clock::now() > deadline) break;
    }
    // Sleep. Registering before re-checking the generation (both sequentially consistent)
    // means the last arrival either sees a sleeper and wakes it, or is seen here.
    sleepers_.fetch_add(1, std::memory_order_seq_cst);
    while (generation_.load(std::memory_order_seq_cst) == generation) sleep_while(generation);
    sleepers_.fetch_sub(1, std::memory_order_relaxed);
  }

 private:
  // Longer than the usual imbalance between the threads at a barrier (a few microseconds),
  // shorter than a scheduler time slice.
  static constexpr std::chrono::microseconds kSpin{50};

  static void pause() {
#if defined(__x86_64__) || defined(__i386__)
    _mm_pause();
#endif
  }

#ifdef __linux__
  // Returns when woken, or at once if the generation has already moved on.
  void sleep_while(uint32_t generation) {
    syscall(SYS_futex, reinterpret_cast<uint32_t*>(&generation_), FUTEX_WAIT_PRIVATE, generation,
            nullptr, nullptr, 0);
  }
  void wake_all() {
    syscall(SYS_futex, reinterpret_cast<uint32_t*>(&generation_), FUTEX_WAKE_PRIVATE, INT_MAX,
            nullptr, nullptr, 0);
  }
#else
  void sleep_while(uint32_t) { std::this_thread::yield(); }
  void wake_all() {}
#endif

  const int threads_;
  std::atomic<int> arrived_{0};
  std::atomic<int> sleepers_{0};
  std::atomic<uint32_t> generation_{0};
  static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t), "futex word");
};

}  // namespace tinyc
