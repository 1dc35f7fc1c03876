# Warnings, optimization and sanitizer flags shared by every tinyc target.
function(tinyc_set_warnings target)
  # GCC 12 reports -Wmaybe-uninitialized inside its own AVX-512 intrinsics when Eigen's kernels
  # are inlined (a known false positive of _mm512_undefined_*); everything else stays on.
  target_compile_options(${target} PRIVATE -Wall -Wextra)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    target_compile_options(${target} PRIVATE -Wno-maybe-uninitialized)
  endif()
  # No errno from math functions: lets sqrt/exp vectorize; tinyc never reads errno after math.
  target_compile_options(${target} PRIVATE -fno-math-errno)
  if(TINYC_NATIVE)
    target_compile_options(${target} PRIVATE -march=native)
  endif()
  if(TINYC_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=address,undefined -fno-omit-frame-pointer
      -fno-sanitize-recover=undefined)
    target_link_options(${target} PRIVATE -fsanitize=address,undefined)
  endif()
  if(TINYC_FUZZ)
    # Coverage instrumentation for libFuzzer; the fuzz targets link the fuzzer's main.
    target_compile_options(${target} PRIVATE -fsanitize=fuzzer-no-link -g)
  endif()
endfunction()
