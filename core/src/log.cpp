// log.cpp - the log sink: one mutex, one sink, a level filter.
#include <atomic>
#include <cstdio>
#include <mutex>
#include <string>

#include "log_internal.hpp"

namespace safeexec {
namespace {

std::mutex g_mutex;
LogSink g_sink;  // empty: the default sink
std::atomic<int> g_level{static_cast<int>(LogLevel::debug)};

void default_sink(LogLevel level, std::string_view line) {
  if (level < LogLevel::warning) return;
  std::string text = std::string("safeexec ") + to_string(level) + ": ";
  text.append(line);
  text.push_back('\n');
  (void)std::fwrite(text.data(), 1, text.size(), stderr);
}

}  // namespace

const char* to_string(LogLevel level) noexcept {
  switch (level) {
    case LogLevel::debug:
      return "debug";
    case LogLevel::info:
      return "info";
    case LogLevel::warning:
      return "warning";
    case LogLevel::error:
      return "error";
  }
  return "unknown";
}

LogSink set_log_sink(LogSink sink) {
  const std::lock_guard<std::mutex> lock(g_mutex);
  LogSink previous = std::move(g_sink);
  g_sink = std::move(sink);
  return previous;
}

void set_log_level(LogLevel level) noexcept {
  g_level.store(static_cast<int>(level));
}

namespace detail {

bool log_enabled(LogLevel level) noexcept {
  return static_cast<int>(level) >= g_level.load();
}

void log(LogLevel level, std::string_view line) noexcept {
  if (!log_enabled(level)) return;
  try {
    const std::lock_guard<std::mutex> lock(g_mutex);
    if (g_sink) {
      g_sink(level, line);
    } else {
      default_sink(level, line);
    }
  } catch (...) {
    // A sink must not throw; if one does, the line is dropped rather than
    // turning a log call into a failure of the operation being logged.
  }
}

}  // namespace detail
}  // namespace safeexec
