// tsan_fork.hpp - include in the one test file of an executable whose tests
// use a library thread (the worker pool) in a forked child.
//
// ThreadSanitizer's default is to kill a child that starts a thread after a
// multi-threaded fork (die_after_fork=1). Those tests exist precisely to
// check that a forked child can start a fresh pool, so under TSan the
// executable asks for die_after_fork=0; TSAN_OPTIONS from the environment
// still overrides it. Nothing is defined in other builds.
#pragma once

#include "support/sanitizers.hpp"

#ifdef SAFEEXEC_TEST_UNDER_TSAN
extern "C" const char* __tsan_default_options() {
  return "die_after_fork=0";
}
#endif
