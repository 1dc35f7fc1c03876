// Minimal board support for running emitted models in QEMU's Cortex-M machines (mps2-an385,
// mps2-an386, mps2-an500, mps2-an505, microbit): a vector table, a reset handler that enables
// the FPU (where there is one), copies .data, zeroes .bss and calls main, and fault handlers
// that end the run through semihosting. I/O and exit go through newlib's librdimon
// (--specs=rdimon.specs), which talks to the host with semihosting.
#include <stdint.h>
#include <stdlib.h>

extern uint32_t __data_load__, __data_start__, __data_end__, __bss_start__, __bss_end__;
extern uint32_t __stack_top__;
extern int main(void);
extern void initialise_monitor_handles(void);

// Semihosting SYS_WRITE0 then SYS_EXIT with a run-time error: QEMU exits with status 1.
// Used from fault handlers, where newlib's state cannot be trusted.
static void semihost_fail(const char* message) {
  register uintptr_t r0 __asm__("r0") = 0x04;  // SYS_WRITE0
  register uintptr_t r1 __asm__("r1") = (uintptr_t)message;
  __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
  r0 = 0x18;                                      // SYS_EXIT
  r1 = 0x20023;                                   // ADP_Stopped_RunTimeErrorUnknown
  __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
  for (;;) {
  }
}

void Reset_Handler(void) {
#if defined(__ARM_FP)
  // CPACR: full access to CP10 and CP11 (the FPU) before any floating-point instruction.
  *(volatile uint32_t*)0xE000ED88u |= 0xFu << 20;
  __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
  const uint32_t* src = &__data_load__;
  for (uint32_t* dst = &__data_start__; dst < &__data_end__;) *dst++ = *src++;
  for (uint32_t* dst = &__bss_start__; dst < &__bss_end__;) *dst++ = 0;
  initialise_monitor_handles();
  exit(main());
}

static void HardFault_Handler(void) { semihost_fail("tinyc firmware: HardFault\n"); }
static void Other_Handler(void) { semihost_fail("tinyc firmware: unexpected exception\n"); }

typedef void (*Handler)(void);

// Cortex-M vector table: initial stack pointer, then the 15 system exception handlers.
__attribute__((section(".vectors"), used)) static const Handler vector_table[16] = {
    (Handler)&__stack_top__, Reset_Handler, Other_Handler, HardFault_Handler,
    Other_Handler,           Other_Handler, Other_Handler, 0,
    0,                       0,             0,             Other_Handler,
    Other_Handler,           0,             Other_Handler, Other_Handler,
};

// newlib's exit() runs _fini through __libc_fini_array; there are no static destructors here.
void _init(void) {}
void _fini(void) {}
