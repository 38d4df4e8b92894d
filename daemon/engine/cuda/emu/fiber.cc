/* Fiber switching for the emulation (see fiber.h). */
#include "fiber.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#define BRN_EMU_ASAN 1
#else
#define BRN_EMU_ASAN 0
#endif

namespace brn_emu {
namespace {

/* a kernel's frames are small; sanitizers make them several times larger */
constexpr size_t STACK_BYTES = BRN_EMU_ASAN ? 512 * 1024 : 64 * 1024;

thread_local fiber *t_fiber;
thread_local fiber_scheduler *t_sched;

void asan_start(void **fake_save, const void *bottom, size_t size)
{
#if BRN_EMU_ASAN
    __sanitizer_start_switch_fiber(fake_save, bottom, size);
#endif
}

void asan_finish(void *fake, const void **bottom_old, size_t *size_old)
{
#if BRN_EMU_ASAN
    __sanitizer_finish_switch_fiber(fake, bottom_old, size_old);
#endif
}

}  // namespace

#if defined(__x86_64__)
/* brn_emu_switch(save, to): pushes the callee-saved registers and the floating-point
 * control words, stores the stack pointer in *save, and pops the same from `to`. */
extern "C" void brn_emu_switch(void **save, void *to);
__asm__(".text\n"
        ".p2align 4\n"
        ".globl brn_emu_switch\n"
        ".hidden brn_emu_switch\n"
        ".type brn_emu_switch,@function\n"
        "brn_emu_switch:\n"
        "    pushq %rbp\n"
        "    pushq %rbx\n"
        "    pushq %r12\n"
        "    pushq %r13\n"
        "    pushq %r14\n"
        "    pushq %r15\n"
        "    subq $8, %rsp\n"
        "    stmxcsr (%rsp)\n"
        "    fnstcw 4(%rsp)\n"
        "    movq %rsp, (%rdi)\n"
        "    movq %rsi, %rsp\n"
        "    ldmxcsr (%rsp)\n"
        "    fldcw 4(%rsp)\n"
        "    addq $8, %rsp\n"
        "    popq %r15\n"
        "    popq %r14\n"
        "    popq %r13\n"
        "    popq %r12\n"
        "    popq %rbx\n"
        "    popq %rbp\n"
        "    ret\n"
        ".size brn_emu_switch, .-brn_emu_switch\n");
#endif

/* the first code a fiber runs: tell ASan where the scheduler's stack is, then the entry */
static void fiber_start()
{
    asan_finish(nullptr, &t_sched->stack_bottom, &t_sched->stack_size);
    t_fiber->entry();
    abort();   /* the entry ends with fiber_exit */
}

void fiber_init(fiber *f, char *stack, size_t size, void (*entry)())
{
#if BRN_EMU_ASAN
    /* an abandoned fiber (a kernel error) may have left poisoned frames here */
    __asan_unpoison_memory_region(stack, size);
#endif
    f->stack = stack;
    f->size = size;
    f->asan_fake_stack = nullptr;
    f->entry = entry;
#if defined(__x86_64__)
    /* the frame brn_emu_switch pops: control words, six registers, the return address
     * (fiber_start), and above it a null return address for fiber_start itself, so that it
     * starts with the stack aligned as after a call */
    uint64_t *sp = (uint64_t *)(((uintptr_t)(stack + size)) & ~(uintptr_t)15);
    *--sp = 0;
    *--sp = (uint64_t)(uintptr_t)fiber_start;
    for (int i = 0; i < 6; i++) *--sp = 0;
    --sp;
    uint32_t mxcsr;
    uint16_t fpcw;
    __asm__ __volatile__("stmxcsr %0" : "=m"(mxcsr));
    __asm__ __volatile__("fnstcw %0" : "=m"(fpcw));
    *sp = (uint64_t)mxcsr | (uint64_t)fpcw << 32;
    f->sp = sp;
#else
    getcontext(&f->ctx);
    f->ctx.uc_stack.ss_sp = stack;
    f->ctx.uc_stack.ss_size = size;
    f->ctx.uc_link = nullptr;
    makecontext(&f->ctx, fiber_start, 0);
#endif
}

void fiber_resume(fiber *f, fiber_scheduler *s)
{
    fiber *prev_fiber = t_fiber;
    t_fiber = f;
    t_sched = s;
    void *fake = nullptr;
    asan_start(&fake, f->stack, f->size);
#if defined(__x86_64__)
    brn_emu_switch(&s->sp, f->sp);
#else
    swapcontext(&s->ctx, &f->ctx);
#endif
    asan_finish(fake, nullptr, nullptr);
    t_fiber = prev_fiber;
}

void fiber_suspend(fiber *f, fiber_scheduler *s)
{
    asan_start(&f->asan_fake_stack, s->stack_bottom, s->stack_size);
#if defined(__x86_64__)
    brn_emu_switch(&f->sp, s->sp);
#else
    swapcontext(&f->ctx, &s->ctx);
#endif
    asan_finish(f->asan_fake_stack, &s->stack_bottom, &s->stack_size);
}

void fiber_exit(fiber *f, fiber_scheduler *s)
{
    asan_start(nullptr, s->stack_bottom, s->stack_size);   /* null: this fiber's fake stack goes */
#if defined(__x86_64__)
    brn_emu_switch(&f->sp, s->sp);
#else
    setcontext(&s->ctx);
#endif
    abort();
}

fiber_stacks::~fiber_stacks()
{
    if (base_) munmap(base_, count_ * (size_ + guard_) + guard_);
}

bool fiber_stacks::reserve(size_t n)
{
    if (n <= count_) return true;
    if (base_) munmap(base_, count_ * (size_ + guard_) + guard_);
    base_ = nullptr;
    count_ = 0;
    guard_ = (size_t)sysconf(_SC_PAGESIZE);
    size_ = STACK_BYTES;
    const size_t total = n * (size_ + guard_) + guard_;
    void *p = mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return false;
    base_ = (char *)p;
    count_ = n;
    /* a guard page below every stack turns an overflow into a fault at once */
    for (size_t i = 0; i < n; i++) mprotect(base_ + i * (size_ + guard_), guard_, PROT_NONE);
    return true;
}

}  // namespace brn_emu
