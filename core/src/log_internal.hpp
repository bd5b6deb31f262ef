// log_internal.hpp - how library code writes a log line.
#pragma once

#include <string_view>

#include "safeexec/log.hpp"

namespace safeexec::detail {

/// True when a line at `level` would be kept (check before formatting).
bool log_enabled(LogLevel level) noexcept;
/// Hands one line to the sink. Never throws.
void log(LogLevel level, std::string_view line) noexcept;

}  // namespace safeexec::detail
