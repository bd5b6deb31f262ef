// env_block.cpp - the child's environment block on Windows (env_block.hpp).
#include "env_block.hpp"

#include <windows.h>

#include <algorithm>
#include <array>
#include <string>

#include "safeexec/errors.hpp"
#include "win_util.hpp"

namespace safeexec::detail {
namespace {

constexpr std::array<std::string_view, 9> kWindowsNames = {
    "COMSPEC",    "PATHEXT", "__COMPAT_LAYER",       "COR_ENABLE_PROFILING", "PSMODULEPATH",
    "SYSTEMROOT", "WINDIR",  "DOTNET_STARTUP_HOOKS", "__PROCESS_HISTORY"};
constexpr std::array<std::string_view, 3> kWindowsPrefixes = {"COR_PROFILER", "CORECLR_",
                                                              "DOTNET_ADDITIONAL_DEPS"};

std::string upper_ascii(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

/// The name of a "NAME=VALUE" entry; a drive entry "=C:=C:\x" keeps its
/// leading '=' as part of the name.
std::string_view entry_name(std::string_view entry) {
  const std::size_t eq = entry.find('=', 1);
  return entry.substr(0, eq == std::string_view::npos ? entry.size() : eq);
}

/// Ordinal, case-insensitive: the order and equality Windows uses for names.
int compare_names(std::string_view a, std::string_view b) {
  const std::wstring wa = win::widen(a, "environment name");
  const std::wstring wb = win::widen(b, "environment name");
  const int r = ::CompareStringOrdinal(wa.data(), static_cast<int>(wa.size()), wb.data(),
                                       static_cast<int>(wb.size()), TRUE);
  return r == CSTR_LESS_THAN ? -1 : r == CSTR_GREATER_THAN ? 1 : 0;
}

}  // namespace

bool win_env_name_is_dangerous(std::string_view key) noexcept {
  const std::string up = upper_ascii(key);
  if (std::find(kWindowsNames.begin(), kWindowsNames.end(), up) != kWindowsNames.end()) {
    return true;
  }
  for (std::string_view p : kWindowsPrefixes) {
    if (up.compare(0, p.size(), p) == 0) return true;
  }
  // The POSIX list, case-insensitively ("PythonPath" is PYTHONPATH here).
  return up != key && EnvPolicy::is_dangerous(up);
}

}  // namespace safeexec::detail

namespace safeexec {
EnvMap current_environment() {
  EnvMap env;
  for (const std::string& e : detail::win::parent_environment_entries()) {
    if (e.empty() || e[0] == '=') continue;  // drive entries are cmd.exe's bookkeeping
    const std::size_t eq = e.find('=');
    if (eq == std::string::npos) continue;
    env.emplace(e.substr(0, eq), e.substr(eq + 1));
  }
  return env;
}
}  // namespace safeexec

namespace safeexec::detail::win {

std::vector<std::string> parent_environment_entries() {
  std::vector<std::string> out;
  wchar_t* block = ::GetEnvironmentStringsW();
  if (block == nullptr) return out;
  for (const wchar_t* p = block; *p != L'\0'; p += wcslen(p) + 1) {
    try {
      out.push_back(narrow(p, "environment entry"));
    } catch (const InvalidArgument&) {
      // An entry that is not valid UTF-16 cannot be expressed at the API;
      // it is left out rather than passed on mangled.
    }
  }
  ::FreeEnvironmentStringsW(block);
  return out;
}

std::optional<std::string> find_entry(const std::vector<std::string>& entries,
                                      std::string_view name) {
  for (const std::string& e : entries) {
    if (compare_names(entry_name(e), name) == 0) {
      const std::size_t eq = e.find('=', 1);
      return eq == std::string::npos ? std::string() : e.substr(eq + 1);
    }
  }
  return std::nullopt;
}

std::wstring make_environment_block(const std::vector<std::string>& parent, const EnvMap& additions,
                                    const EnvPolicy& policy) {
  validate_env_additions(additions, policy);
  // (entry, came from the additions)
  std::vector<std::pair<std::string, bool>> entries;
  for (const std::string& e : parent) {
    const std::string_view name = entry_name(e);
    const bool replaced = std::any_of(additions.begin(), additions.end(), [&](const auto& kv) {
      return compare_names(kv.first, name) == 0;
    });
    if (!replaced) entries.emplace_back(e, false);
  }
  for (const auto& [key, value] : additions) entries.emplace_back(key + "=" + value, true);
  // Without SYSTEMROOT many programs cannot load system DLLs (CPython and
  // libuv add it back too).
  const bool has_root = std::any_of(entries.begin(), entries.end(), [](const auto& e) {
    return compare_names(entry_name(e.first), "SYSTEMROOT") == 0;
  });
  if (!has_root) {
    wchar_t dir[MAX_PATH];
    const UINT n = ::GetSystemWindowsDirectoryW(dir, MAX_PATH);
    if (n > 0 && n < MAX_PATH) {
      entries.emplace_back("SYSTEMROOT=" + narrow(std::wstring(dir, n)), false);
    }
  }
  std::stable_sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
    return compare_names(entry_name(a.first), entry_name(b.first)) < 0;
  });
  std::vector<std::string> unique;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    if (i > 0 &&
        compare_names(entry_name(entries[i - 1].first), entry_name(entries[i].first)) == 0) {
      // Two additions that differ only in case ("Path" and "PATH") are
      // ambiguous; a parent duplicate keeps its first entry, as Windows does.
      if (entries[i].second && entries[i - 1].second) {
        throw InvalidArgument("environment key '" + std::string(entry_name(entries[i].first)) +
                              "' is given twice (Windows names ignore case)");
      }
      continue;
    }
    unique.push_back(entries[i].first);
  }
  std::wstring block;
  for (const std::string& e : unique) {
    block += widen(e, "environment entry");
    block.push_back(L'\0');
  }
  if (unique.empty()) block.push_back(L'\0');
  block.push_back(L'\0');
  return block;
}

}  // namespace safeexec::detail::win
