/* startup.c: the least a Cortex-M4F needs to run golden_harness.c under qemu-system-arm -M mps2-an386.
 *
 * The vector table's first two words are the initial stack pointer and the reset handler; the reset handler
 * turns the FPU on (CP10 and CP11 full access), copies .data, clears .bss, opens newlib's semihosting
 * streams (stdin, stdout on the host) when built with -DSEMIHOSTING, and calls main; exit() reports main's
 * status to qemu. The footprint images (Makefile) use it without semihosting.
 */
#include <stdint.h>
#include <stdlib.h>

extern uint32_t __data_load__, __data_start__, __data_end__, __bss_start__, __bss_end__, __stack_top__;
extern int main(void);
#ifdef SEMIHOSTING
extern void initialise_monitor_handles(void);
#endif

void reset_handler(void) {
    volatile uint32_t *cpacr = (volatile uint32_t *)0xE000ED88u;
    *cpacr |= 0xFu << 20;
    __asm__ volatile("dsb\n\tisb");
    uint32_t *source = &__data_load__;
    for (uint32_t *target = &__data_start__; target < &__data_end__;) *target++ = *source++;
    for (uint32_t *target = &__bss_start__; target < &__bss_end__;) *target++ = 0;
#ifdef SEMIHOSTING
    initialise_monitor_handles();
#endif
    exit(main());
}

/* -nostartfiles leaves out crti.o: newlib's exit() still calls _fini (nothing to run here). */
void _init(void) {}
void _fini(void) {}

static void halt(void) {
    for (;;) {
    }
}

/* The stack's top and the handlers as addresses: entries 0 (initial SP), 1 (reset), 2..6 (NMI, faults). */
__attribute__((section(".vectors"), used)) const uintptr_t vectors[16] = {
    (uintptr_t)&__stack_top__, (uintptr_t)reset_handler, (uintptr_t)halt, (uintptr_t)halt,
    (uintptr_t)halt, (uintptr_t)halt, (uintptr_t)halt,
};
