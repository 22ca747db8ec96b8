// Fibers for the cuda-sim scheduler: stacks, context switches, AddressSanitizer annotations.
// Internal to native/sim.
#pragma once
#include <cstddef>

#if defined(__x86_64__) && !defined(ADVPROP_SIM_UCONTEXT)
#define ADVPROP_SIM_ASM_SWITCH 1
#else
#define ADVPROP_SIM_ASM_SWITCH 0
#include <ucontext.h>
#endif

namespace advprop {
namespace sim {
namespace detail {

// A place to resume: a suspended fiber, or the host thread's own stack ("main").
struct Context {
#if ADVPROP_SIM_ASM_SWITCH
  void* sp = nullptr;
#else
  ucontext_t uc;
#endif
  // AddressSanitizer needs the bounds of the stack it is switching to; main's are learnt on the
  // first switch away from it.
  const void* stack_bottom = nullptr;
  size_t stack_size = 0;
  void* fake_stack = nullptr;
};

struct Stack {
  void* mapping = nullptr;
  size_t mapping_size = 0;
  char* lo = nullptr;  // usable [lo, hi); a PROT_NONE guard page lies below lo
  char* hi = nullptr;
  Context ctx;
};

// Stacks come from a per-host-thread pool and are unmapped when the host thread exits.
// Throws advprop::Error (OOM) when the system refuses a mapping.
Stack* stack_acquire();
void stack_release(Stack* s);

// Makes s->ctx start entry() on s when switched to. entry must never return: a fiber ends by
// switching away with `exiting` set.
void context_init(Stack* s, void (*entry)());
// Saves the running context into `from` and resumes `to`. With `exiting`, `from` is never resumed.
void context_switch(Context* from, Context* to, bool exiting = false);
// The first call of a fresh fiber's entry function.
void context_started();

}  // namespace detail
}  // namespace sim
}  // namespace advprop
