// safeexec/log.hpp - where safeexec's log lines go.
//
// The library logs spawn failures, failed commands (at error level when
// log_fail_as_error, else debug) and kill failures - each once. No log line
// ever holds process input (F13); stdout/stderr appear only as bounded,
// escaped excerpts; argv appears with secrets masked.
#pragma once

#include <functional>
#include <string_view>

namespace safeexec {

enum class LogLevel { debug, info, warning, error };

/// "debug", "info", "warning", "error".
const char* to_string(LogLevel level) noexcept;

/// Receives each log line. Called from whichever thread logs, one call at a
/// time (the library serialises calls). Must not throw.
using LogSink = std::function<void(LogLevel, std::string_view)>;

/// Installs `sink` (an empty function restores the default, which writes
/// warning and error lines to stderr). Returns the previous sink.
LogSink set_log_sink(LogSink sink);

/// Lines below `level` are dropped before formatting (default: debug).
void set_log_level(LogLevel level) noexcept;

}  // namespace safeexec
