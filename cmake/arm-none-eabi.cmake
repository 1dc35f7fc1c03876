# CMake toolchain file for bare-metal Arm Cortex-M with Debian's gcc-arm-none-eabi, for
# firmware projects that build tinyc's emitted code (NAME.cpp) with CMake:
#
#   cmake -S fw -B build-fw -DCMAKE_TOOLCHAIN_FILE=<tinyc>/cmake/arm-none-eabi.cmake \
#         -DTINYC_CPU_FLAGS="-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16"
#
# TINYC_CPU_FLAGS takes the `cflags` of a target from `tinyc targets --json` (default:
# cortex-m4). For running in QEMU, cmake/firmware/ has startup code and linker scripts; link
# with `--specs=rdimon.specs -nostartfiles -T <board>.ld` (see cmake/firmware/README.md).
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR arm)

set(CMAKE_C_COMPILER arm-none-eabi-gcc)
set(CMAKE_CXX_COMPILER arm-none-eabi-g++)
set(CMAKE_ASM_COMPILER arm-none-eabi-gcc)
set(CMAKE_OBJCOPY arm-none-eabi-objcopy CACHE FILEPATH "objcopy")
set(CMAKE_SIZE arm-none-eabi-size CACHE FILEPATH "size")

# No host executables can be linked without a board's startup code and linker script.
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)

set(TINYC_CPU_FLAGS "-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16"
    CACHE STRING "ISA and float-ABI flags (the `cflags` of a tinyc target)")
set(CMAKE_C_FLAGS_INIT "${TINYC_CPU_FLAGS} -ffunction-sections -fdata-sections")
set(CMAKE_CXX_FLAGS_INIT
    "${TINYC_CPU_FLAGS} -ffunction-sections -fdata-sections -fno-exceptions -fno-rtti")
set(CMAKE_EXE_LINKER_FLAGS_INIT "${TINYC_CPU_FLAGS} -Wl,--gc-sections")

set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
