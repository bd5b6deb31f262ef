// errors.cpp - messages of the typed errors, and ExitStatus::str().
#ifdef _WIN32
#include <windows.h>
#else
#include <string.h>  // strerrordesc_np, strerrorname_np, sigabbrev_np (GNU)
#endif

#include <string>

#include "safeexec/errors.hpp"
#include "text_internal.hpp"

namespace safeexec {
namespace {

#ifdef _WIN32
// Windows: error codes are Win32 errors (GetLastError), shown as
// "Win32 error 2 (The system cannot find the file specified.)".
std::string describe_errno(int error) {
  std::string out = "Win32 error " + std::to_string(error);
  wchar_t* text = nullptr;
  const DWORD n = FormatMessageW(
      FORMAT_MESSAGE_ALLOCATE_BUFFER | FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS,
      nullptr, static_cast<DWORD>(error), 0, reinterpret_cast<wchar_t*>(&text), 0, nullptr);
  if (n > 0 && text != nullptr) {
    std::wstring w(text, n);
    while (!w.empty() && (w.back() == L'\r' || w.back() == L'\n' || w.back() == L' ')) w.pop_back();
    const int len = WideCharToMultiByte(CP_UTF8, 0, w.data(), static_cast<int>(w.size()), nullptr,
                                        0, nullptr, nullptr);
    std::string msg(static_cast<std::size_t>(len > 0 ? len : 0), '\0');
    if (len > 0) {
      WideCharToMultiByte(CP_UTF8, 0, w.data(), static_cast<int>(w.size()), msg.data(), len,
                          nullptr, nullptr);
      out += " (" + msg + ")";
    }
  }
  if (text != nullptr) LocalFree(text);
  return out;
}

const char* sigabbrev_np(int signal) {
  return signal == 9 ? "KILL" : signal == 15 ? "TERM" : nullptr;
}
#else
// "ENOENT (No such file or directory)": thread-safe, unlike strerror().
std::string describe_errno(int error) {
  const char* name = ::strerrorname_np(error);
  const char* desc = ::strerrordesc_np(error);
  std::string out = name != nullptr ? name : ("errno " + std::to_string(error));
  if (desc != nullptr) out += std::string(" (") + desc + ")";
  return out;
}
#endif

}  // namespace

const char* to_string(SpawnStage stage) noexcept {
  switch (stage) {
    case SpawnStage::pipes:
      return "pipes";
    case SpawnStage::redirect:
      return "redirect";
    case SpawnStage::clone:
      return "clone";
    case SpawnStage::signals:
      return "signals";
    case SpawnStage::process_group:
      return "process_group";
    case SpawnStage::stdio:
      return "stdio";
    case SpawnStage::close_fds:
      return "close_fds";
    case SpawnStage::chdir:
      return "chdir";
    case SpawnStage::exec:
      return "exec";
    case SpawnStage::path_lookup:
      return "path_lookup";
    case SpawnStage::cgroup:
      return "cgroup";
    case SpawnStage::session:
      return "session";
    case SpawnStage::rlimit:
      return "rlimit";
    case SpawnStage::credentials:
      return "credentials";
    case SpawnStage::no_new_privs:
      return "no_new_privs";
    case SpawnStage::parent_death:
      return "parent_death";
    case SpawnStage::spawn_server:
      return "spawn_server";
  }
  return "unknown";
}

std::string ExitStatus::str() const {
  switch (kind_) {
    case Kind::running:
      return "running";
    case Kind::exited:
      return "exited with code " + std::to_string(value_);
    case Kind::signaled: {
      const char* abbrev = value_ > 0 ? sigabbrev_np(value_) : nullptr;
      return "killed by signal " + std::to_string(value_) +
             (abbrev != nullptr ? std::string(" (SIG") + abbrev + ")" : std::string());
    }
    case Kind::lost:
      return "exit status unknown (reaped by someone else)";
  }
  return "unknown";
}

namespace detail {
void throw_not_a_signal(int signal) {
  throw InvalidArgument("ExitStatus::signaled(" + std::to_string(signal) +
                        "): not a signal number; a child is never killed by signal " +
                        std::to_string(signal));
}
}  // namespace detail

SystemError::SystemError(const std::string& what, int error_code)
    : Error(what + ": " + describe_errno(error_code)), error_code_(error_code) {}

SpawnError::SpawnError(SpawnStage stage, int error_code, const std::string& program)
    : SpawnError(stage, error_code, program, std::string()) {}

SpawnError::SpawnError(SpawnStage stage, int error_code, const std::string& program,
                       const std::string& doing)
    // argv[0] is the caller's: quoted and escaped like describe_argv (item 16).
    : SystemError("cannot start " + detail::quote_word(program) + ": " + to_string(stage) +
                      " failed" + (doing.empty() ? std::string() : " (" + doing + ")") +
                      (stage == SpawnStage::path_lookup
                           ? " (found through an empty or relative PATH entry, i.e. in the "
                             "working directory: refused; name it with a '/' to run it)"
                           : ""),
                  error_code),
      stage_(stage),
      program_(program) {}

ProcessExecutionError::ProcessExecutionError(const std::string& what, ExitStatus status,
                                             std::string stdout_excerpt, std::string stderr_excerpt)
    : Error(what),
      status_(status),
      stdout_excerpt_(std::move(stdout_excerpt)),
      stderr_excerpt_(std::move(stderr_excerpt)) {}

TimeoutError::TimeoutError(const std::string& what, std::chrono::milliseconds timeout,
                           std::string partial_stdout, std::string partial_stderr)
    : Error(what),
      timeout_(timeout),
      partial_stdout_(std::move(partial_stdout)),
      partial_stderr_(std::move(partial_stderr)) {}

CancelledError::CancelledError(const std::string& what, std::string partial_stdout,
                               std::string partial_stderr)
    : Error(what),
      partial_stdout_(std::move(partial_stdout)),
      partial_stderr_(std::move(partial_stderr)) {}

OutputLimitError::OutputLimitError(const std::string& what, std::string stream, std::size_t limit)
    : Error(what), stream_(std::move(stream)), limit_(limit) {}

KillError::KillError(pid_t pid, int signal, int error_code, const std::string& why)
    : SystemError(why.empty() ? "cannot send signal " + std::to_string(signal) + " to pid " +
                                    std::to_string(pid)
                              : "signal " + std::to_string(signal) + " to pid " +
                                    std::to_string(pid) + " was sent, but the child " + why,
                  error_code),
      pid_(pid),
      signal_(signal) {}

}  // namespace safeexec
