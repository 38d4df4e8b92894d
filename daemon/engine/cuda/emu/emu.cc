/* The emulated launch (see emu.h): blocks one after the other, a block's threads as fibers
 * scheduled here from barrier to barrier. */
#include "emu.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "fiber.h"

namespace brn_emu {
namespace {

enum class state { runnable, at_barrier, at_warp, done };

struct thread_ctx {
    fiber f;
    uint3 tid;
    int linear, lane, warp;
    state st;
    /* a pending warp exchange */
    unsigned mask;
    uint64_t value, result;
    int src;
};

struct block_ctx {
    dim3 grid, block;
    uint3 bidx;
    const std::function<void()> *body;
    std::vector<unsigned char> smem;
    std::vector<thread_ctx> threads;
    fiber_scheduler sched;
    std::string error;
};

thread_local block_ctx *t_block;
thread_local thread_ctx *t_thread;
thread_local std::string t_last_error;
thread_local fiber_stacks t_stacks;

/* the first failure of a block, with where it happened */
void block_fail(block_ctx *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void block_fail(block_ctx *b, const char *fmt, ...)
{
    if (!b->error.empty()) return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char where[80];
    snprintf(where, sizeof where, "block (%u,%u,%u): ", b->bidx.x, b->bidx.y, b->bidx.z);
    b->error = std::string(where) + msg;
}

void thread_main()
{
    (*t_block->body)();
    t_thread->st = state::done;
    fiber_exit(&t_thread->f, &t_block->sched);
}

/* suspend the running thread until the scheduler releases it */
void wait_as(state s)
{
    thread_ctx *t = t_thread;
    t->st = s;
    fiber_suspend(&t->f, &t_block->sched);
}

/* Releases the lanes of one warp whose exchange can complete; false when none can. */
bool release_warp(block_ctx *b, int w)
{
    const int nthreads = (int)b->threads.size(), first = w * 32;
    const int lanes = nthreads - first < 32 ? nthreads - first : 32;
    for (int l = 0; l < lanes; l++) {
        thread_ctx &t = b->threads[first + l];
        if (t.st != state::at_warp) continue;
        const unsigned mask = t.mask;
        bool ready = true;
        for (int k = 0; k < 32 && ready; k++) {
            if (!(mask >> k & 1u)) continue;
            if (k >= lanes) {
                block_fail(b, "warp %d: mask 0x%08x names lane %d, which this block does not have", w, mask, k);
                return false;
            }
            const thread_ctx &o = b->threads[first + k];
            if (o.st == state::done) {
                block_fail(b, "warp %d: lane %d exited while lane %d waits for it in a warp operation (mask 0x%08x)",
                           w, k, l, mask);
                return false;
            }
            if (o.st != state::at_warp || o.mask != mask) ready = false;
        }
        if (!(mask >> l & 1u)) {
            block_fail(b, "warp %d: lane %d calls a warp operation with a mask (0x%08x) that omits itself", w, l, mask);
            return false;
        }
        if (!ready) continue;
        for (int k = 0; k < 32; k++) {
            if (!(mask >> k & 1u)) continue;
            thread_ctx &o = b->threads[first + k];
            if (o.src >= 0 && !(o.src < lanes && (mask >> o.src & 1u))) {
                block_fail(b, "warp %d: lane %d reads lane %d, which is not in the mask 0x%08x", w, k, o.src, mask);
                return false;
            }
            o.result = o.src >= 0 ? b->threads[first + o.src].value : 0;
        }
        for (int k = 0; k < 32; k++)
            if (mask >> k & 1u) b->threads[first + k].st = state::runnable;
        return true;
    }
    return false;
}

/* Runs one block to completion or to its first error. */
void run_block(block_ctx *b)
{
    const int n = (int)b->threads.size();
    int phase = 0;
    for (;;) {
        /* run every runnable thread until it waits or finishes; the order alternates so
         * that a read which a missing barrier leaves unordered sees stale data in one of
         * the two orders */
        for (int k = 0; k < n; k++) {
            thread_ctx *t = &b->threads[phase % 2 ? n - 1 - k : k];
            if (t->st != state::runnable) continue;
            t_thread = t;
            fiber_resume(&t->f, &b->sched);
            t_thread = nullptr;
        }
        if (!b->error.empty()) return;
        int done = 0, at_barrier = 0, at_warp = 0;
        for (const thread_ctx &t : b->threads) {
            done += t.st == state::done;
            at_barrier += t.st == state::at_barrier;
            at_warp += t.st == state::at_warp;
        }
        if (done == n) return;
        bool released = false;
        for (int w = 0; w * 32 < n; w++) released |= release_warp(b, w);
        if (!b->error.empty()) return;
        if (released) continue;
        if (at_warp) {
            for (const thread_ctx &t : b->threads)
                if (t.st == state::at_warp) {
                    block_fail(b,
                               "thread (%u,%u,%u) waits in a warp operation (mask 0x%08x) for lanes that wait "
                               "at __syncthreads() instead",
                               t.tid.x, t.tid.y, t.tid.z, t.mask);
                    return;
                }
        }
        if (done) {
            for (const thread_ctx &t : b->threads)
                if (t.st == state::done) {
                    block_fail(b,
                               "divergent __syncthreads(): thread (%u,%u,%u) exited while %d thread(s) wait at "
                               "the barrier",
                               t.tid.x, t.tid.y, t.tid.z, at_barrier);
                    return;
                }
        }
        for (thread_ctx &t : b->threads) t.st = state::runnable;
        phase++;
    }
}

/* a fixed scramble of the block order: results must not depend on it */
std::vector<size_t> block_order(size_t count)
{
    std::vector<size_t> order(count);
    for (size_t i = 0; i < count; i++) order[i] = i;
    uint64_t s = 0x2545f4914f6cdd1dULL ^ count;
    for (size_t i = count; i > 1; i--) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        size_t j = (size_t)((s >> 33) % i);
        std::swap(order[i - 1], order[j]);
    }
    return order;
}

int fail_launch(int code, const char *name, const std::string &why)
{
    t_last_error = std::string("kernel ") + name + ": " + why;
    fprintf(stderr, "brn_emu: %s\n", t_last_error.c_str());
    return code;
}

}  // namespace

const uint3 &thread_idx() { return t_thread->tid; }
const uint3 &block_idx() { return t_block->bidx; }
const dim3 &block_dim() { return t_block->block; }
const dim3 &grid_dim() { return t_block->grid; }
void *dynamic_shared() { return t_block->smem.data(); }
int lane_id() { return t_thread->lane; }

void block_barrier() { wait_as(state::at_barrier); }

uint64_t warp_exchange(unsigned mask, uint64_t value, int src_lane)
{
    thread_ctx *t = t_thread;
    t->mask = mask;
    t->value = value;
    t->src = src_lane < 0 ? -1 : src_lane;
    wait_as(state::at_warp);
    return t->result;
}

const char *last_error() { return t_last_error.c_str(); }

int launch_body(const char *name, dim3 grid, dim3 block, size_t dynamic_smem, const std::function<void()> &body)
{
    const size_t threads = (size_t)block.x * block.y * block.z;
    const size_t blocks = (size_t)grid.x * grid.y * grid.z;
    char why[200];
    if (threads == 0 || threads > 1024 || block.z > 64 || blocks == 0 || grid.y > 65535 || grid.z > 65535) {
        snprintf(why, sizeof why, "invalid launch configuration: grid (%u,%u,%u), block (%u,%u,%u)", grid.x,
                 grid.y, grid.z, block.x, block.y, block.z);
        return fail_launch(ERR_INVALID_CONFIGURATION, name, why);
    }
    if (dynamic_smem > 48 * 1024) {
        snprintf(why, sizeof why, "%zu bytes of dynamic shared memory (more than 48 KiB needs an opt-in)",
                 dynamic_smem);
        return fail_launch(ERR_INVALID_VALUE, name, why);
    }
    if (!t_stacks.reserve(threads)) return fail_launch(ERR_LAUNCH_FAILURE, name, "no memory for thread stacks");
    block_ctx b;
    b.grid = grid;
    b.block = block;
    b.body = &body;
    b.threads.resize(threads);
    block_ctx *saved_block = t_block;
    t_block = &b;
    int rc = 0;
    for (size_t bi : block_order(blocks)) {
        b.bidx = uint3{(unsigned)(bi % grid.x), (unsigned)(bi / grid.x % grid.y), (unsigned)(bi / grid.x / grid.y)};
        b.smem.assign(dynamic_smem ? dynamic_smem : 1, 0xff);   /* exact: ASan sees overruns */
        for (size_t i = 0; i < threads; i++) {
            thread_ctx &t = b.threads[i];
            t = thread_ctx{};
            t.tid = uint3{(unsigned)(i % block.x), (unsigned)(i / block.x % block.y), (unsigned)(i / block.x / block.y)};
            t.linear = (int)i;
            t.lane = (int)(i % 32);
            t.warp = (int)(i / 32);
            t.st = state::runnable;
            fiber_init(&t.f, t_stacks.stack(i), t_stacks.stack_size(), thread_main);
        }
        run_block(&b);
        if (!b.error.empty()) {
            rc = fail_launch(ERR_LAUNCH_FAILURE, name, b.error);
            break;
        }
    }
    t_block = saved_block;
    return rc;
}

}  // namespace brn_emu
