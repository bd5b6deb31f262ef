// safeexec/exit_status.hpp - how a child ended, as a value.
#pragma once

#include <string>

namespace safeexec {

/// How a child process ended (or that it has not yet). A value type:
/// cheap to copy, comparable, printable with str().
class ExitStatus {
 public:
  enum class Kind { running, exited, signaled };

  /// A child that has not been reaped yet.
  constexpr ExitStatus() noexcept = default;
  static constexpr ExitStatus exited(int code) noexcept { return {Kind::exited, code}; }
  static constexpr ExitStatus signaled(int signal) noexcept { return {Kind::signaled, signal}; }

  constexpr Kind kind() const noexcept { return kind_; }
  constexpr bool running() const noexcept { return kind_ == Kind::running; }
  /// The exit code, or -1 when the child did not exit normally.
  constexpr int exit_code() const noexcept { return kind_ == Kind::exited ? value_ : -1; }
  /// The terminating signal, or 0 when the child was not killed by one.
  constexpr int signal() const noexcept { return kind_ == Kind::signaled ? value_ : 0; }
  /// Exited with code 0.
  constexpr bool success() const noexcept { return kind_ == Kind::exited && value_ == 0; }
  /// "running", "exited with code 3", "killed by signal 9 (SIGKILL)".
  std::string str() const;

  friend constexpr bool operator==(ExitStatus, ExitStatus) noexcept = default;

 private:
  constexpr ExitStatus(Kind kind, int value) noexcept : kind_(kind), value_(value) {}
  Kind kind_ = Kind::running;
  int value_ = 0;
};

}  // namespace safeexec
