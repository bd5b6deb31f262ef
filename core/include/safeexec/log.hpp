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

/// Receives each log line. Called from whichever thread logs, possibly from
/// several threads at once: the library holds no lock while a sink runs, so
/// a sink may call execute() (or wait for execute_async()) and may replace
/// itself. A sink must be thread-safe and must not throw. A line logged on a
/// thread while that thread is inside the sink (a sink whose execute() logs)
/// goes to the default sink instead, so a sink never recurses into itself.
/// set_log_sink() returns once no other thread is running the previous sink
/// (so an object the sink refers to may be destroyed right after), unless it
/// is called from inside that sink; do not call it from a sink while another
/// thread's call of that sink waits for this thread.
using LogSink = std::function<void(LogLevel, std::string_view)>;

/// Installs `sink` (an empty function restores the default, which writes
/// warning and error lines to stderr). Returns the previous sink.
LogSink set_log_sink(LogSink sink);

/// Lines below `level` are dropped before formatting (default: debug). While
/// the default sink is installed, lines below warning are dropped before
/// formatting too, since it would not print them.
void set_log_level(LogLevel level) noexcept;

}  // namespace safeexec
