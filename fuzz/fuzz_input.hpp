// fuzz_input.hpp - turns a fuzzer's byte string into typed values.
//
// Why our own and not <fuzzer/FuzzedDataProvider.h>: that header ships with
// clang only (g++ 12 here has no <fuzzer/...>), and the replay build of every
// target is compiled with gcc. A crash input must decode to the *same* values
// in the libFuzzer build and in the replay build, so both use this one reader.
// It follows FuzzedDataProvider's layout, which suits mutation-based fuzzing:
//   * numbers and flags are taken from the END of the input, so the
//     structure of a test case (mode, counts, flags) stays put while the
//     mutator edits the payload at the front;
//   * strings are taken from the FRONT: a string ends at a backslash followed
//     by any byte other than a backslash, and "\\\\" stands for one backslash
//     (so dictionary tokens inserted anywhere land inside strings);
//   * once the input is used up, every number is its minimum and every string
//     is empty: any byte string is a valid test case.
// fuzz/make_seeds.py writes seeds in this layout.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>

namespace safeexec_fuzz {

class FuzzInput {
 public:
  FuzzInput(const std::uint8_t* data, std::size_t size) noexcept : data_(data), size_(size) {}

  std::size_t remaining_bytes() const noexcept { return size_; }

  /// A value in [min, max], built from up to sizeof(T) bytes taken from the end.
  template <class T>
  T integral_in_range(T min, T max) noexcept {
    static_assert(std::is_integral_v<T> && sizeof(T) <= sizeof(std::uint64_t));
    if (min > max) return min;
    const std::uint64_t range =
        static_cast<std::uint64_t>(max) - static_cast<std::uint64_t>(min);  // wraps correctly
    std::uint64_t result = 0;
    std::size_t offset = 0;
    while (offset < sizeof(T) * 8 && (range >> offset) > 0 && size_ != 0) {
      --size_;
      result = (result << 8) | data_[size_];
      offset += 8;
    }
    if (range != std::numeric_limits<std::uint64_t>::max()) result %= range + 1;
    return static_cast<T>(static_cast<std::uint64_t>(min) + result);
  }

  template <class T>
  T integral() noexcept {
    return integral_in_range<T>(std::numeric_limits<T>::min(), std::numeric_limits<T>::max());
  }

  bool boolean() noexcept { return (integral<std::uint8_t>() & 1U) != 0; }

  /// At most `max_length` bytes from the front, ended by "\<other byte>".
  std::string random_length_string(std::size_t max_length) {
    std::string out;
    while (out.size() < max_length && size_ != 0) {
      char next = static_cast<char>(*data_);
      advance(1);
      if (next == '\\' && size_ != 0) {
        next = static_cast<char>(*data_);
        advance(1);
        if (next != '\\') break;
      }
      out.push_back(next);
    }
    return out;
  }

  /// Exactly min(n, remaining) bytes from the front.
  std::string bytes(std::size_t n) {
    if (n > size_) n = size_;
    std::string out(reinterpret_cast<const char*>(data_), n);
    advance(n);
    return out;
  }

  /// Everything that is left.
  std::string remaining_as_string() { return bytes(size_); }

 private:
  void advance(std::size_t n) noexcept {
    data_ += n;
    size_ -= n;
  }

  const std::uint8_t* data_;
  std::size_t size_;
};

}  // namespace safeexec_fuzz
