// lookup.hpp - finding the program to start, never in the current directory.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace safeexec::detail::win {

/// The absolute path of the program `name` names, for a child whose
/// environment is `child_env` ("NAME=VALUE" entries) and working directory
/// `cwd` (empty: the parent's).
///
/// A name with a directory part ('\', '/' or a drive "X:") is a path: made
/// absolute against `cwd`, tried as given and then with each PATHEXT
/// extension. A bare name is searched in the child's PATH - only in its
/// absolute entries - and then the system and Windows directories, with
/// the name as given and then with each PATHEXT extension (default
/// .COM;.EXE;.BAT;.CMD). The current directory is never searched, and
/// neither is a relative PATH entry such as "." (CreateProcessW and cmd.exe
/// would search it first: a planted .\git.exe would run). nullopt when
/// nothing matches.
std::optional<std::wstring> resolve_program(const std::wstring& name,
                                            const std::vector<std::string>& child_env,
                                            const std::wstring& cwd);

/// GetFullPathNameW: absolute, "." and ".." folded, trailing dots and
/// spaces of the last component dropped ("x.bat. " -> "x.bat").
std::wstring full_path(const std::wstring& path);

}  // namespace safeexec::detail::win
