// lookup.cpp - program lookup that never searches the current directory.
#include "lookup.hpp"

#include <windows.h>

#include <string>

#include "env_block.hpp"
#include "win_util.hpp"

namespace safeexec::detail::win {
namespace {

bool is_absolute(const std::wstring& p) {
  if (p.size() >= 3 && p[1] == L':' && (p[2] == L'\\' || p[2] == L'/')) return true;
  return p.size() >= 2 && (p[0] == L'\\' || p[0] == L'/') && (p[1] == L'\\' || p[1] == L'/');
}

bool has_dir_part(const std::wstring& name) {
  return name.find_first_of(L"\\/") != std::wstring::npos || (name.size() >= 2 && name[1] == L':');
}

bool is_file(const std::wstring& path) {
  const DWORD a = ::GetFileAttributesW(path.c_str());
  return a != INVALID_FILE_ATTRIBUTES && (a & FILE_ATTRIBUTE_DIRECTORY) == 0;
}

std::vector<std::wstring> split(const std::wstring& s, wchar_t sep) {
  std::vector<std::wstring> out;
  std::size_t start = 0;
  for (;;) {
    const std::size_t end = s.find(sep, start);
    std::wstring part = s.substr(start, end == std::wstring::npos ? end : end - start);
    // PATH entries may be quoted ("C:\Program Files\x").
    if (part.size() >= 2 && part.front() == L'"' && part.back() == L'"') {
      part = part.substr(1, part.size() - 2);
    }
    if (!part.empty()) out.push_back(part);
    if (end == std::wstring::npos) return out;
    start = end + 1;
  }
}

bool has_extension(const std::wstring& path) {
  const std::size_t slash = path.find_last_of(L"\\/:");
  const std::size_t dot = path.rfind(L'.');
  return dot != std::wstring::npos && (slash == std::wstring::npos || dot > slash);
}

/// `base` as given when it has an extension (an extensionless file is no
/// program to CreateProcessW), then with each PATHEXT extension.
std::optional<std::wstring> try_with_extensions(const std::wstring& base,
                                                const std::vector<std::wstring>& exts) {
  if (has_extension(base) && is_file(base)) return full_path(base);
  for (const std::wstring& e : exts) {
    if (is_file(base + e)) return full_path(base + e);
  }
  return std::nullopt;
}

std::wstring join(const std::wstring& dir, const std::wstring& name) {
  if (!dir.empty() && (dir.back() == L'\\' || dir.back() == L'/')) return dir + name;
  return dir + L"\\" + name;
}

}  // namespace

std::wstring full_path(const std::wstring& path) {
  const DWORD n = ::GetFullPathNameW(path.c_str(), 0, nullptr, nullptr);
  if (n == 0) return path;
  std::wstring out(n, L'\0');
  const DWORD m = ::GetFullPathNameW(path.c_str(), n, out.data(), nullptr);
  if (m == 0 || m >= n) return path;
  out.resize(m);
  return out;
}

std::optional<std::wstring> resolve_program(const std::wstring& name,
                                            const std::vector<std::string>& child_env,
                                            const std::wstring& cwd) {
  if (name.empty()) return std::nullopt;
  const std::optional<std::string> pathext = find_entry(child_env, "PATHEXT");
  std::vector<std::wstring> exts = split(
      pathext && !pathext->empty() ? widen(*pathext) : std::wstring(L".COM;.EXE;.BAT;.CMD"), L';');

  if (has_dir_part(name)) {
    // Explicitly relative ("sub\x.exe", ".\x.exe") is relative to the
    // child's working directory, as on POSIX, never a search.
    std::wstring base = name;
    if (!is_absolute(name) && !(name.size() >= 2 && name[1] == L':')) {
      base = join(cwd.empty() ? full_path(L".") : full_path(cwd), name);
    }
    return try_with_extensions(base, exts);
  }

  std::vector<std::wstring> dirs;
  if (const std::optional<std::string> path = find_entry(child_env, "PATH")) {
    for (std::wstring& d : split(widen(*path), L';')) {
      if (is_absolute(d)) dirs.push_back(std::move(d));  // never ".", "bin" or ""
    }
  }
  wchar_t buf[MAX_PATH];
  UINT n = ::GetSystemDirectoryW(buf, MAX_PATH);
  if (n > 0 && n < MAX_PATH) dirs.emplace_back(buf, n);
  n = ::GetWindowsDirectoryW(buf, MAX_PATH);
  if (n > 0 && n < MAX_PATH) dirs.emplace_back(buf, n);
  for (const std::wstring& d : dirs) {
    if (auto found = try_with_extensions(join(d, name), exts)) return found;
  }
  return std::nullopt;
}

}  // namespace safeexec::detail::win
