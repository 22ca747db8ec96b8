#include "fiber.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <vector>

#include "advprop/error.h"

#if defined(__SANITIZE_ADDRESS__)
#define ADVPROP_SIM_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ADVPROP_SIM_ASAN 1
#endif
#endif
#ifndef ADVPROP_SIM_ASAN
#define ADVPROP_SIM_ASAN 0
#endif
#if ADVPROP_SIM_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

namespace advprop {
namespace sim {
namespace detail {

#if ADVPROP_SIM_ASM_SWITCH
// Saves the callee-saved registers and the SSE/x87 control words on the current stack, stores
// the stack pointer in *save_sp, and pops the same frame from new_sp. Defined in the asm below
// under this function's mangled name (hidden, so it never leaves the addon). Much cheaper than
// swapcontext, which makes a sigprocmask system call on every switch.
void fiber_jump(void** save_sp, void* new_sp);
asm(R"(
  .text
  .p2align 4
  .globl _ZN7advprop3sim6detail10fiber_jumpEPPvS2_
  .hidden _ZN7advprop3sim6detail10fiber_jumpEPPvS2_
  .type _ZN7advprop3sim6detail10fiber_jumpEPPvS2_, @function
_ZN7advprop3sim6detail10fiber_jumpEPPvS2_:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size _ZN7advprop3sim6detail10fiber_jumpEPPvS2_, .-_ZN7advprop3sim6detail10fiber_jumpEPPvS2_
)");
#endif

namespace {

#if ADVPROP_SIM_ASAN
// Instrumented frames are several times larger.
constexpr size_t kStackBytes = 512 * 1024;
#else
constexpr size_t kStackBytes = 128 * 1024;
#endif

struct StackPool {
  std::vector<Stack*> all;
  std::vector<Stack*> free;
  ~StackPool() {
    for (Stack* s : all) {
      munmap(s->mapping, s->mapping_size);
      delete s;
    }
  }
};
thread_local StackPool tl_pool;

// The context being left, so that the landing side can learn its stack bounds.
thread_local Context* tl_switch_from = nullptr;

#if ADVPROP_SIM_ASAN
void learn_source_bounds(const void* bottom, size_t size) {
  Context* from = tl_switch_from;
  if (from && !from->stack_bottom) {
    from->stack_bottom = bottom;
    from->stack_size = size;
  }
}
#endif

}  // namespace

Stack* stack_acquire() {
  StackPool& pool = tl_pool;
  if (!pool.free.empty()) {
    Stack* s = pool.free.back();
    pool.free.pop_back();
    return s;
  }
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const size_t total = kStackBytes + page;
  void* m = mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK,
                 -1, 0);
  if (m == MAP_FAILED)
    throw Error(ErrorCode::OOM, "cuda-sim: cannot map a fiber stack (" + std::to_string(pool.all.size()) +
                                    " held by this thread; each takes two of the process's vm.max_map_count "
                                    "mappings)");
  if (mprotect(m, page, PROT_NONE) != 0) {
    munmap(m, total);
    throw Error(ErrorCode::OOM, "cuda-sim: cannot protect a fiber stack guard page");
  }
  Stack* s = new Stack();
  s->mapping = m;
  s->mapping_size = total;
  s->lo = static_cast<char*>(m) + page;
  s->hi = s->lo + kStackBytes;
  s->ctx.stack_bottom = s->lo;
  s->ctx.stack_size = kStackBytes;
  pool.all.push_back(s);
  return s;
}

void stack_release(Stack* s) { tl_pool.free.push_back(s); }

void context_init(Stack* s, void (*entry)()) {
#if ADVPROP_SIM_ASAN
  // A fiber ends by switching away, so its last frames never unpoison their redzones; a new
  // fiber on the same stack must not inherit them.
  ASAN_UNPOISON_MEMORY_REGION(s->lo, static_cast<size_t>(s->hi - s->lo));
#endif
  s->ctx.fake_stack = nullptr;
#if ADVPROP_SIM_ASM_SWITCH
  // The frame fiber_jump pops: control words, r15..r12, rbx, rbp, then `ret` into entry with the
  // stack as if entry had just been called (rsp = 8 mod 16) and a null return address.
  uintptr_t top = reinterpret_cast<uintptr_t>(s->hi) & ~uintptr_t(15);
  uint64_t* f = reinterpret_cast<uint64_t*>(top) - 9;
  uint32_t mxcsr = __builtin_ia32_stmxcsr();
  uint16_t fcw;
  __asm__ __volatile__("fnstcw %0" : "=m"(fcw));
  f[0] = static_cast<uint64_t>(mxcsr) | (static_cast<uint64_t>(fcw) << 32);
  for (int i = 1; i <= 6; ++i) f[i] = 0;
  f[7] = reinterpret_cast<uint64_t>(entry);
  f[8] = 0;
  s->ctx.sp = f;
#else
  getcontext(&s->ctx.uc);
  s->ctx.uc.uc_stack.ss_sp = s->lo;
  s->ctx.uc.uc_stack.ss_size = static_cast<size_t>(s->hi - s->lo);
  s->ctx.uc.uc_link = nullptr;
  makecontext(&s->ctx.uc, entry, 0);
#endif
}

void context_switch(Context* from, Context* to, bool exiting) {
  tl_switch_from = from;
#if ADVPROP_SIM_ASAN
  __sanitizer_start_switch_fiber(exiting ? nullptr : &from->fake_stack, to->stack_bottom, to->stack_size);
#else
  (void)exiting;
#endif
#if ADVPROP_SIM_ASM_SWITCH
  fiber_jump(&from->sp, to->sp);
#else
  swapcontext(&from->uc, &to->uc);
#endif
#if ADVPROP_SIM_ASAN
  const void* bottom = nullptr;
  size_t size = 0;
  __sanitizer_finish_switch_fiber(from->fake_stack, &bottom, &size);
  learn_source_bounds(bottom, size);
#endif
}

void context_started() {
#if ADVPROP_SIM_ASAN
  const void* bottom = nullptr;
  size_t size = 0;
  __sanitizer_finish_switch_fiber(nullptr, &bottom, &size);
  learn_source_bounds(bottom, size);
#endif
}

}  // namespace detail
}  // namespace sim
}  // namespace advprop
