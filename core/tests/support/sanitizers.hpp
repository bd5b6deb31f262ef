// sanitizers.hpp - which sanitizer this test binary is built with, once,
// for gcc (__SANITIZE_*__) and clang (__has_feature) alike. Tests use it
// where a sanitizer changes what is observable: under TSan the library's
// child is a real fork (it shares no memory with us and reports failures
// through one more pipe); every sanitizer makes spawns and frames slower.
#pragma once

#if defined(__SANITIZE_THREAD__)
#define SAFEEXEC_TEST_UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SAFEEXEC_TEST_UNDER_TSAN 1
#endif
#endif

#if defined(__SANITIZE_ADDRESS__)
#define SAFEEXEC_TEST_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SAFEEXEC_TEST_UNDER_ASAN 1
#endif
#endif

namespace safeexec_test_support {

#ifdef SAFEEXEC_TEST_UNDER_TSAN
inline constexpr bool kUnderTsan = true;
#else
inline constexpr bool kUnderTsan = false;
#endif
#ifdef SAFEEXEC_TEST_UNDER_ASAN
inline constexpr bool kUnderAsan = true;
#else
inline constexpr bool kUnderAsan = false;
#endif
inline constexpr bool kSanitized = kUnderTsan || kUnderAsan;

}  // namespace safeexec_test_support
