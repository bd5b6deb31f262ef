// win_util.hpp - small Win32 helpers of the Windows backend: an owning
// HANDLE, the HANDLE <-> int mapping the Process handle uses for its pipes,
// and wide-string conversions at the API's UTF-8 edge.
#pragma once

#include <windows.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "win_cmdline.hpp"

namespace safeexec::detail::win {

/// Owns one kernel HANDLE; nullptr and INVALID_HANDLE_VALUE both mean none.
class UniqueHandle {
 public:
  UniqueHandle() = default;
  explicit UniqueHandle(HANDLE h) noexcept : h_(valid(h) ? h : nullptr) {}
  UniqueHandle(UniqueHandle&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
  UniqueHandle& operator=(UniqueHandle&& o) noexcept {
    if (this != &o) {
      reset();
      h_ = std::exchange(o.h_, nullptr);
    }
    return *this;
  }
  UniqueHandle(const UniqueHandle&) = delete;
  UniqueHandle& operator=(const UniqueHandle&) = delete;
  ~UniqueHandle() { reset(); }

  HANDLE get() const noexcept { return h_; }
  HANDLE release() noexcept { return std::exchange(h_, nullptr); }
  explicit operator bool() const noexcept { return h_ != nullptr; }
  void reset() noexcept {
    if (h_ != nullptr) ::CloseHandle(h_);
    h_ = nullptr;
  }
  static bool valid(HANDLE h) noexcept { return h != nullptr && h != INVALID_HANDLE_VALUE; }

 private:
  HANDLE h_ = nullptr;
};

/// Kernel handles carry 32 significant bits (so that 32- and 64-bit
/// processes can share them): an int holds one, sign-extended back.
inline int handle_to_int(HANDLE h) noexcept {
  if (h == nullptr) return -1;
  return static_cast<int>(reinterpret_cast<std::intptr_t>(h));
}
inline HANDLE int_to_handle(int v) noexcept {
  if (v == -1) return nullptr;
  return reinterpret_cast<HANDLE>(static_cast<std::intptr_t>(v));
}
/// Closes the handle an int holds and sets it to -1.
inline void close_int_handle(int& v) noexcept {
  if (v != -1) ::CloseHandle(int_to_handle(v));
  v = -1;
}

inline std::wstring widen(std::string_view utf8, std::string_view what = "text") {
  const std::u16string w = utf8_to_utf16(utf8, what);
  return std::wstring(w.begin(), w.end());
}
inline std::string narrow(std::wstring_view wide, std::string_view what = "text") {
  return utf16_to_utf8(std::u16string(wide.begin(), wide.end()), what);
}

}  // namespace safeexec::detail::win
