#pragma once
// The `borrow.prop.*` registrations (S24): with SAFEEXEC_PROPS_LARGE_CALLER=1
// the property's process holds a descriptor above the automatic strategy's
// threshold before its first case, so every spawn of the property is a
// large caller's: borrowed where the kernel lets a child borrow, through the
// server (or copied) where it does not.

#include <string>

namespace safeexec_props {

/// Once per process, before the first case: makes the caller large where
/// SAFEEXEC_PROPS_LARGE_CALLER=1 asks for it, and checks that a child of
/// the large caller did not get a copy of its table (its FDSize stays below
/// the threshold) wherever a plain fork here can take a descriptor of its
/// parent with pidfd_getfd. "" when all is well (or nothing was asked),
/// else what went wrong.
std::string make_caller_large_once();

}  // namespace safeexec_props
