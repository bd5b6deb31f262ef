// tsan_fork.hpp - include in the one test file of an executable whose tests
// use a library thread (the worker pool) in a forked child.
//
// ThreadSanitizer's default is to kill a child that starts a thread after a
// multi-threaded fork (die_after_fork=1). Those tests exist precisely to
// check that a forked child can start a fresh pool, so under TSan the
// executable asks for die_after_fork=0; TSAN_OPTIONS from the environment
// still overrides it. Nothing is defined in other builds.
#pragma once

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SAFEEXEC_TEST_UNDER_TSAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define SAFEEXEC_TEST_UNDER_TSAN 1
#endif

#ifdef SAFEEXEC_TEST_UNDER_TSAN
extern "C" const char* __tsan_default_options() {
  return "die_after_fork=0";
}
#endif
