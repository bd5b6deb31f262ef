// env_block.hpp - the child's environment on Windows: names compared
// case-insensitively, the block sorted the way Windows expects, SYSTEMROOT
// kept, and the Windows injection names for the F02 policy.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "safeexec/env.hpp"

namespace safeexec::detail {

/// Windows' own injection names (case-insensitive), plus the POSIX list
/// compared case-insensitively: COMSPEC (what cmd.exe runs), PATHEXT (which
/// files count as programs), __COMPAT_LAYER (compatibility shims, e.g.
/// RunAsInvoker), COR_ENABLE_PROFILING / COR_PROFILER* / CORECLR_* and
/// DOTNET_STARTUP_HOOKS (code loaded into .NET programs), PSMODULEPATH,
/// SYSTEMROOT (where system DLLs come from).
bool win_env_name_is_dangerous(std::string_view key) noexcept;

}  // namespace safeexec::detail

namespace safeexec::detail::win {

/// The parent's environment block as "NAME=VALUE" UTF-8 entries, in block
/// order, the "=C:=C:\dir" drive entries included.
std::vector<std::string> parent_environment_entries();

/// The block for CreateProcessW (CREATE_UNICODE_ENVIRONMENT): `parent`
/// entries with `additions` applied (validated against `policy`; a name
/// replaces any entry whose name equals it ignoring case), SYSTEMROOT
/// added from the system when missing, sorted by name ignoring case,
/// each entry NUL-terminated and the block ending in an extra NUL.
std::wstring make_environment_block(const std::vector<std::string>& parent, const EnvMap& additions,
                                    const EnvPolicy& policy);

/// The value of `name` (ignoring case) among "NAME=VALUE" entries.
std::optional<std::string> find_entry(const std::vector<std::string>& entries,
                                      std::string_view name);

}  // namespace safeexec::detail::win
