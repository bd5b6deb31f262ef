// env.cpp - environment grammar, the injection denylist, and building envp.
#include <algorithm>
#include <array>
#include <string>

#include "safeexec/env.hpp"
#include "safeexec/errors.hpp"
#ifdef _WIN32
#include "windows/env_block.hpp"
#endif

#ifndef _WIN32
extern char** environ;  // NOLINT(readability-redundant-declaration)
#endif

namespace safeexec {
namespace {

bool is_name_start(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}
bool is_name_char(char c) {
  return is_name_start(c) || (c >= '0' && c <= '9');
}

// Names whose value changes how a program is loaded or interpreted (F02).
// From glibc's UNSECURE_ENVVARS (what it drops for setuid programs) plus the
// start-up hooks of common shells and interpreters.
constexpr std::array<std::string_view, 26> kDangerousNames = {"GCONV_PATH",
                                                              "GETCONF_DIR",
                                                              "GLIBC_TUNABLES",
                                                              "HOSTALIASES",
                                                              "LOCALDOMAIN",
                                                              "LOCPATH",
                                                              "NIS_PATH",
                                                              "NLSPATH",
                                                              "RESOLV_HOST_CONF",
                                                              "RES_OPTIONS",
                                                              "TMPDIR",
                                                              "TZDIR",
                                                              "BASH_ENV",
                                                              "ENV",
                                                              "SHELLOPTS",
                                                              "BASHOPTS",
                                                              "PS4",
                                                              "PROMPT_COMMAND",
                                                              "IFS",
                                                              "CDPATH",
                                                              "PERLLIB",
                                                              "RUBYLIB",
                                                              "RUBYOPT",
                                                              "NODE_OPTIONS",
                                                              "NODE_PATH",
                                                              "JAVA_TOOL_OPTIONS"};
constexpr std::array<std::string_view, 8> kDangerousPrefixes = {
    "LD_", "DYLD_", "MALLOC_", "PYTHON", "PERL5", "_JAVA_OPTIONS", "LUA_PATH", "LUA_CPATH"};

}  // namespace

bool is_valid_env_key(std::string_view key) noexcept {
  if (key.empty() || !is_name_start(key.front())) return false;
  return std::all_of(key.begin() + 1, key.end(), is_name_char);
}

void validate_env_key(std::string_view key) {
  if (key.empty()) throw InvalidArgument("environment key is empty");
  if (key.find('\0') != std::string_view::npos) {
    throw InvalidArgument("environment key holds a NUL byte");
  }
  if (key.find('=') != std::string_view::npos) {
    // "A=B" as a key would silently define another variable in the child.
    throw InvalidArgument("environment key '" + std::string(key) + "' holds '='");
  }
  if (!is_valid_env_key(key)) {
    throw InvalidArgument("environment key '" + std::string(key) +
                          "' does not match [A-Za-z_][A-Za-z0-9_]*");
  }
}

void validate_env_value(std::string_view key, std::string_view value) {
  if (value.find('\0') != std::string_view::npos) {
    throw InvalidArgument("value of environment key '" + std::string(key) + "' holds a NUL byte");
  }
}

EnvPolicy EnvPolicy::deny_dangerous() {
  return EnvPolicy();
}

EnvPolicy EnvPolicy::allow_only(std::set<std::string, std::less<>> names) {
  for (const std::string& n : names) validate_env_key(n);
  EnvPolicy p;
  p.allowlist_ = true;
  p.allowed_ = std::move(names);
  return p;
}

EnvPolicy& EnvPolicy::allow(std::string name) {
  validate_env_key(name);
  allowed_.insert(std::move(name));
  return *this;
}

bool EnvPolicy::is_dangerous(std::string_view key) noexcept {
#ifdef _WIN32
  // Windows compares names case-insensitively (Path is PATH) and has its
  // own injection names (windows/env_block.cpp).
  if (detail::win_env_name_is_dangerous(key)) return true;
#endif
  if (std::find(kDangerousNames.begin(), kDangerousNames.end(), key) != kDangerousNames.end()) {
    return true;
  }
  return std::any_of(
      kDangerousPrefixes.begin(), kDangerousPrefixes.end(),
      [&](std::string_view prefix) { return key.substr(0, prefix.size()) == prefix; });
}

bool EnvPolicy::permits(std::string_view key) const noexcept {
  if (allowed_.find(key) != allowed_.end()) return true;
  return !allowlist_ && !is_dangerous(key);
}

void validate_env_additions(const EnvMap& additions, const EnvPolicy& policy) {
  for (const auto& [key, value] : additions) {
    validate_env_key(key);
    validate_env_value(key, value);
    if (!policy.permits(key)) {
      throw InvalidArgument("environment key '" + key + "' is refused by the " +
                            (policy.is_allowlist()
                                 ? std::string("allowlist policy (not listed)")
                                 : std::string("default policy (it can change how the child is "
                                               "loaded or interpreted; opt in with allow())")));
    }
  }
}

#ifndef _WIN32  // windows/env_block.cpp reads the UTF-16 block instead
EnvMap current_environment() {
  EnvMap env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string_view entry(*e);
    const std::size_t eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    env.emplace(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
  }
  return env;
}
#endif

std::vector<std::string> build_child_environment(const EnvMap& base, const EnvMap& additions,
                                                 const EnvPolicy& policy) {
  validate_env_additions(additions, policy);
  EnvMap merged = base;
  for (const auto& [key, value] : additions) merged.insert_or_assign(key, value);
  std::vector<std::string> out;
  out.reserve(merged.size());
  for (const auto& [key, value] : merged) {
    std::string entry;
    entry.reserve(key.size() + 1 + value.size());
    entry.append(key).append(1, '=').append(value);
    out.push_back(std::move(entry));
  }
  return out;
}

}  // namespace safeexec
