/* Fibers for the emulation's threads: a context per thread on its own stack, switched
 * cooperatively with the scheduler's. On x86-64 a small assembly switch (callee-saved
 * registers, MXCSR and the x87 control word) replaces swapcontext, which makes a system
 * call per switch and would make the emulated kernels ~100x slower; other machines use
 * ucontext. Under AddressSanitizer every switch is announced to it. Internal to cuda/emu/. */
#ifndef BRN_CUDA_EMU_FIBER_H
#define BRN_CUDA_EMU_FIBER_H

#include <cstddef>

#if !defined(__x86_64__)
#include <ucontext.h>
#endif

namespace brn_emu {

struct fiber {
#if defined(__x86_64__)
    void *sp;
#else
    ucontext_t ctx;
#endif
    char *stack;
    size_t size;
    void (*entry)();
    void *asan_fake_stack;
};

/* the context that resumes fibers (the launching thread's own stack) */
struct fiber_scheduler {
#if defined(__x86_64__)
    void *sp;
#else
    ucontext_t ctx;
#endif
    const void *stack_bottom;
    size_t stack_size;
};

/* entry runs on the fiber's stack at its first resume; it must end with fiber_exit */
void fiber_init(fiber *f, char *stack, size_t size, void (*entry)());
/* runs f until it suspends or exits */
void fiber_resume(fiber *f, fiber_scheduler *s);
/* from inside f: back to the scheduler, until the next fiber_resume(f) */
void fiber_suspend(fiber *f, fiber_scheduler *s);
[[noreturn]] void fiber_exit(fiber *f, fiber_scheduler *s);

/* Stacks for up to n fibers, with a guard page below each, kept between launches. */
class fiber_stacks {
public:
    ~fiber_stacks();
    bool reserve(size_t n);
    char *stack(size_t i) const { return base_ + i * (size_ + guard_) + guard_; }
    size_t stack_size() const { return size_; }

private:
    char *base_ = nullptr;
    size_t count_ = 0, size_ = 0, guard_ = 0;
};

}  // namespace brn_emu

#endif
