#pragma once
// SAFEEXEC_PROP(Suite, Name) { ... }: a RapidCheck property as a GoogleTest
// test (the same Suite.Name as RC_GTEST_PROP gives it), plus two things the
// deep runner (ci/props) reads:
//
// * "OK, passed N tests" on every success. rapidcheck_gtest prints it only
//   when the property tags its cases, so the count a property really ran
//   was invisible for most of them (and the scaled ones get N/10).
// * the number of runs started so far (cases, discards and shrink steps),
//   written to the file named by $SAFEEXEC_PROP_PROGRESS after each start,
//   so a run that crashes or is killed still says how far it got.

#include <gtest/gtest.h>
#include <rapidcheck.h>

namespace safeexec_props {

/// Checks `property` as the current GoogleTest test: a failure is a
/// GoogleTest failure carrying RapidCheck's report (counterexample and the
/// failed check); a success prints RapidCheck's result line.
void check_property(void (*property)());

}  // namespace safeexec_props

#define SAFEEXEC_PROP(Suite, Name)                                     \
  static void safeexec_prop_##Suite##_##Name();                        \
  TEST(Suite, Name) {                                                  \
    ::safeexec_props::check_property(&safeexec_prop_##Suite##_##Name); \
  }                                                                    \
  static void safeexec_prop_##Suite##_##Name()
