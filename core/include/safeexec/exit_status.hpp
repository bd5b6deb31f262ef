// safeexec/exit_status.hpp - how a child ended, as a value.
#pragma once

#include <string>

namespace safeexec {
namespace detail {
/// Throws InvalidArgument: `signal` is no signal number (errors.cpp).
[[noreturn]] void throw_not_a_signal(int signal);
}  // namespace detail

/// How a child process ended (or that it has not yet). A value type:
/// cheap to copy, comparable, printable with str().
class ExitStatus {
 public:
  /// `lost`: the child is gone but its status is unknown - someone else
  /// reaped it (see StatusLostError); never a guess such as "signal 0".
  enum class Kind { running, exited, signaled, lost };

  /// A child that has not been reaped yet.
  constexpr ExitStatus() noexcept = default;
  static constexpr ExitStatus exited(int code) noexcept { return {Kind::exited, code}; }
  /// Killed by `signal`, a signal number (>= 1); InvalidArgument otherwise,
  /// so that no status can say "killed by signal 0".
  static constexpr ExitStatus signaled(int signal) {
    if (signal < 1) detail::throw_not_a_signal(signal);
    return {Kind::signaled, signal};
  }
  /// Gone, status unknown (reaped by someone else).
  static constexpr ExitStatus lost() noexcept { return {Kind::lost, 0}; }

  constexpr Kind kind() const noexcept { return kind_; }
  constexpr bool running() const noexcept { return kind_ == Kind::running; }
  /// The exit code, or -1 when the child did not exit normally.
  constexpr int exit_code() const noexcept { return kind_ == Kind::exited ? value_ : -1; }
  /// The terminating signal, or 0 when the child was not killed by one.
  constexpr int signal() const noexcept { return kind_ == Kind::signaled ? value_ : 0; }
  /// Exited with code 0.
  constexpr bool success() const noexcept { return kind_ == Kind::exited && value_ == 0; }
  /// The child is gone and nobody knows how it ended.
  constexpr bool lost_status() const noexcept { return kind_ == Kind::lost; }
  /// "running", "exited with code 3", "killed by signal 9 (SIGKILL)",
  /// "exit status unknown (reaped by someone else)".
  std::string str() const;

  friend constexpr bool operator==(ExitStatus, ExitStatus) noexcept = default;

 private:
  constexpr ExitStatus(Kind kind, int value) noexcept : kind_(kind), value_(value) {}
  Kind kind_ = Kind::running;
  int value_ = 0;
};

}  // namespace safeexec
