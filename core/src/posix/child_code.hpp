// child_code.hpp - how a function the vfork-style child runs is marked.
//
// No sanitizer instrumentation (its runtime is not async-signal-safe and
// would touch the suspended parent's memory) and never inlined into parent
// code, so the attribute holds.
#pragma once

#if defined(__clang__)
#define SAFEEXEC_CHILD_CODE \
  __attribute__((noinline, no_sanitize("address", "thread", "undefined", "memory")))
#elif defined(__GNUC__) && __GNUC__ >= 8
#define SAFEEXEC_CHILD_CODE __attribute__((noinline, no_sanitize("address", "thread", "undefined")))
#else
#define SAFEEXEC_CHILD_CODE __attribute__((noinline))
#endif
