// env.cpp - environment grammar, the denylist, inheritance, and building envp.
#include <algorithm>
#include <array>
#include <string>

#include "log_internal.hpp"
#include "safeexec/env.hpp"
#include "safeexec/errors.hpp"
#include "text_internal.hpp"  // keys in messages are quoted and escaped (item 16)
#ifdef _WIN32
#include "windows/env_block.hpp"
#else
#include "environ_snapshot.hpp"  // the one read of environ (issue 18 item 7)
#endif

namespace safeexec {
namespace {

bool is_name_start(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}
bool is_name_char(char c) {
  return is_name_start(c) || (c >= '0' && c <= '9');
}

// Names whose value loads code into a child, changes how its loader, libc,
// shell or interpreter runs it, or changes whom it trusts (F02). Each group
// says where the names come from; a name is here when setting it makes a
// program do something its caller did not ask for (run other code, read
// another config, trust other certificates, write secrets out).
//
// PATH is deliberately absent: see env.hpp. So are EDITOR, VISUAL and PAGER:
// they are read by interactive tools only, are set by callers on purpose, and
// sudo keeps them too. TZ is absent: glibc only parses a zone file from it
// (sudo checks it, it does not delete it).
constexpr auto kDangerousNames = std::to_array<std::string_view>(
    {// glibc sysdeps/generic/unsecvars.h, UNSECURE_ENVVARS: what ld.so strips
     // for setuid programs (the LD_* ones are covered by the prefix below;
     // MALLOC_TRACE by MALLOC_).
     "GCONV_PATH", "GETCONF_DIR", "GLIBC_TUNABLES", "HOSTALIASES", "LOCALDOMAIN", "LOCPATH",
     "NIS_PATH", "NLSPATH", "RESOLV_HOST_CONF", "RES_OPTIONS", "TMPDIR", "TZDIR",
     // sudo plugins/sudoers/env.c, initial_badenv_table (the env_delete
     // default): shells, terminfo/termcap parsers, Kerberos, BSD locale path.
     "IFS", "CDPATH", "PATH_LOCALE", "KRB5_KTNAME", "TERMINFO", "TERMINFO_DIRS", "TERMPATH",
     "TERMCAP", "ENV", "BASH_ENV", "PS4", "GLOBIGNORE", "BASHOPTS", "SHELLOPTS", "FPATH", "NULLCMD",
     "READNULLCMD", "ZDOTDIR", "TMPPREFIX", "PERLIO_DEBUG", "PERLLIB", "RUBYLIB", "RUBYOPT",
     "JAVA_TOOL_OPTIONS",
     // bash(1): PROMPT_COMMAND runs before each prompt of an interactive shell.
     "PROMPT_COMMAND",
     // Node.js docs, "Environment variables": extra command-line options and
     // module search path; extra CA certificates; TLS verification switch.
     "NODE_OPTIONS", "NODE_PATH", "NODE_EXTRA_CA_CERTS", "NODE_TLS_REJECT_UNAUTHORIZED",
     // Java: JDK_JAVA_OPTIONS is prepended to the `java` launcher's options
     // (JDK 9+, `java` tool reference); CLASSPATH is where classes are loaded
     // from when no -cp is given. (JAVA_TOOL_OPTIONS above: JVMTI docs.)
     "JDK_JAVA_OPTIONS", "CLASSPATH",
     // OpenSSL openssl-env(7): config file (can load engines/providers),
     // engine and provider module directories, default trust store.
     "OPENSSL_CONF", "OPENSSL_ENGINES", "OPENSSL_MODULES", "SSL_CERT_FILE", "SSL_CERT_DIR",
     // TLS key log: NSS, curl (libcurl-env(3)), Python's ssl module
     // (create_default_context) write session secrets to this file.
     "SSLKEYLOGFILE",
     // Trust stores of curl (curl(1), CURL_CA_BUNDLE) and Python requests
     // (REQUESTS_CA_BUNDLE, requests docs "SSL Cert Verification").
     "CURL_CA_BUNDLE", "REQUESTS_CA_BUNDLE",
     // git(1) "ENVIRONMENT VARIABLES": programs git runs instead of its own
     // (ssh, askpass, proxy, diff, editor, pager), where its helpers are
     // loaded from, hook templates, TLS verification. SSH_ASKPASS: ssh(1).
     "GIT_SSH", "GIT_SSH_COMMAND", "GIT_EXEC_PATH", "GIT_ASKPASS", "SSH_ASKPASS",
     "GIT_PROXY_COMMAND", "GIT_EXTERNAL_DIFF", "GIT_EDITOR", "GIT_SEQUENCE_EDITOR", "GIT_PAGER",
     "GIT_TEMPLATE_DIR", "GIT_SSL_NO_VERIFY",
     // less(1) "INPUT PREPROCESSOR": commands run on every file opened.
     "LESSOPEN", "LESSCLOSE",
     // Cargo "Environment variables": a program run instead of rustc.
     "RUSTC_WRAPPER", "RUSTC_WORKSPACE_WRAPPER",
     // Go `go help environment`: GOFLAGS may carry -toolexec (runs a program
     // around every tool); GOTOOLCHAIN downloads and runs another toolchain;
     // GOENV names the config file that sets all the others; the sum-database
     // ones turn module checksum verification off for some or all modules.
     "GOFLAGS", "GOTOOLCHAIN", "GOENV", "GOSUMDB", "GONOSUMDB", "GONOSUMCHECK", "GOINSECURE",
     "GOPRIVATE"});

constexpr auto kDangerousPrefixes = std::to_array<std::string_view>(
    {// glibc ld.so(8) and unsecvars.h (LD_PRELOAD, LD_LIBRARY_PATH, LD_AUDIT,
     // LD_DEBUG_OUTPUT, ...); sudo's "LD_*". DYLD_*: macOS dyld(1), sudo.
     // _RLD*: the IRIX loader, sudo's "_RLD*".
     "LD_", "DYLD_", "_RLD",
     // glibc malloc tunables and MALLOC_TRACE (unsecvars.h): mallopt(3).
     "MALLOC_",
     // python(1) "ENVIRONMENT": PYTHONPATH, PYTHONHOME, PYTHONSTARTUP,
     // PYTHONINSPECT, PYTHONUSERBASE, PYTHONBREAKPOINT (imports and calls a
     // callable), PYTHONWARNINGS, ...; sudo lists four of them.
     "PYTHON",
     // perlrun(1) "ENVIRONMENT": PERL5LIB, PERL5OPT, PERL5DB; sudo lists them.
     "PERL5",
     // HotSpot's _JAVA_OPTIONS (read by every JVM, before the command line).
     "_JAVA_OPTIONS",
     // Lua manual §6.3 / lua(1): package.path and package.cpath defaults.
     "LUA_PATH", "LUA_CPATH",
     // sudo's "KRB5_CONFIG*": the Kerberos configuration (KDCs, realms).
     "KRB5_CONFIG",
     // git-config(1) "ENVIRONMENT": GIT_CONFIG_GLOBAL/_SYSTEM name other
     // config files, GIT_CONFIG_COUNT with GIT_CONFIG_KEY_<n>/_VALUE_<n> set
     // any key (core.sshCommand, core.fsmonitor, ...: code execution).
     "GIT_CONFIG"});

/// A key as it may appear in a message: printable ASCII as is, every other
/// byte (and '\\', '\'') as \xNN, cut to 64 bytes. Host keys may hold
/// anything but NUL and '='.
std::string printable_key(std::string_view key) {
  constexpr std::size_t kMax = 64;
  std::string out;
  for (std::size_t i = 0; i < key.size() && i < kMax; ++i) {
    const auto c = static_cast<unsigned char>(key[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'') {
      out.push_back(static_cast<char>(c));
    } else {
      constexpr std::string_view kHex = "0123456789abcdef";
      out.append("\\x").append(1, kHex[c >> 4U]).append(1, kHex[c & 0xfU]);
    }
  }
  if (key.size() > kMax) out.append("...");
  return out;
}

/// The key of one environ entry, or false when it has no '=' or its key
/// breaks the grammar (the same rule as for additions, F01).
bool well_formed_entry(std::string_view entry, std::string_view* key) noexcept {
  const std::size_t eq = entry.find('=');
  if (eq == std::string_view::npos) return false;
  *key = entry.substr(0, eq);
  return is_valid_env_key(*key);
}

std::vector<std::string> to_envp(const EnvMap& merged) {
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
    throw InvalidArgument("environment key " + detail::quote_word(key) + " holds '='");
  }
  if (!is_valid_env_key(key)) {
    throw InvalidArgument("environment key " + detail::quote_word(key) +
                          " does not match [A-Za-z_][A-Za-z0-9_]*");
  }
}

void validate_env_value(std::string_view key, std::string_view value) {
  if (value.find('\0') != std::string_view::npos) {
    throw InvalidArgument("value of environment key " + detail::quote_word(key) +
                          " holds a NUL byte");
  }
}

EnvPolicy EnvPolicy::deny_dangerous() {
  return EnvPolicy();
}

EnvPolicy EnvPolicy::allow_only(EnvNames names) {
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

EnvInherit EnvInherit::none() noexcept {
  EnvInherit i;
  i.mode_ = Mode::none;
  return i;
}

EnvInherit EnvInherit::only(EnvNames names) {
  for (const std::string& n : names) validate_env_key(n);
  EnvInherit i;
  i.mode_ = Mode::only;
  i.only_ = std::move(names);
  return i;
}

EnvInherit& EnvInherit::remove(EnvNames names) {
  for (const std::string& n : names) validate_env_key(n);
  removed_.merge(names);
  return *this;
}

EnvInherit& EnvInherit::remove_dangerous() noexcept {
  remove_dangerous_ = true;
  return *this;
}

namespace {
// Windows names are case-insensitive (Path is PATH): only("PATH") must pass
// the parent's "Path", remove("path") must drop it.
bool has_name(const EnvNames& names, std::string_view key) noexcept {
#ifdef _WIN32
  const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
  return std::any_of(names.begin(), names.end(), [&](const std::string& n) {
    return n.size() == key.size() &&
           std::equal(n.begin(), n.end(), key.begin(),
                      [&](char a, char b) { return lower(a) == lower(b); });
  });
#else
  return names.find(key) != names.end();
#endif
}
}  // namespace

bool EnvInherit::inherits(std::string_view key) const noexcept {
  if (has_name(removed_, key)) return false;
  if (remove_dangerous_ && EnvPolicy::is_dangerous(key)) return false;
  switch (mode_) {
    case Mode::all:
      return true;
    case Mode::none:
      return false;
    case Mode::only:
      return has_name(only_, key);
  }
  return false;
}

bool EnvInherit::inherits_everything() const noexcept {
  return mode_ == Mode::all && removed_.empty() && !remove_dangerous_;
}

void validate_env_additions(const EnvMap& additions, const EnvPolicy& policy) {
  for (const auto& [key, value] : additions) {
    validate_env_key(key);
    validate_env_value(key, value);
    if (!policy.permits(key)) {
      throw InvalidArgument("environment key " + detail::quote_word(key) + " is refused by the " +
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
  const detail::EnvironSnapshot snapshot = detail::EnvironSnapshot::take();
  for (char* const* e = snapshot.entries(); *e != nullptr; ++e) {
    const std::string_view entry(*e);
    const std::size_t eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    env.emplace(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
  }
  return env;
}
#endif

EnvMap inherited_environment(const char* const* entries, const EnvInherit& inherit,
                             std::vector<std::string>* dropped) {
  EnvMap env;
  for (const char* const* e = entries; e != nullptr && *e != nullptr; ++e) {
    const std::string_view entry(*e);
    std::string_view key;
    if (!well_formed_entry(entry, &key)) {
      if (dropped != nullptr) {
        // Without '=' the whole entry may be a value: describe, don't show.
        if (entry.find('=') == std::string_view::npos) {
          dropped->emplace_back("an entry without '='");
        } else if (key.empty()) {
          dropped->emplace_back("an entry with an empty key");
        } else {
          // Appended, not "'" + ...: g++ 12 -O3 raises a false -Wrestrict
          // on operator+(const char*, string&&) (GCC bug 105329).
          std::string quoted(1, '\'');
          quoted.append(printable_key(key)).push_back('\'');
          dropped->push_back(std::move(quoted));
        }
      }
      continue;
    }
    if (!inherit.inherits(key)) continue;
    // emplace keeps the first entry of a key, which is the one getenv() sees.
    env.emplace(std::string(key), std::string(entry.substr(key.size() + 1)));
  }
  return env;
}

std::vector<std::string> build_child_environment(const EnvMap& base, const EnvMap& additions,
                                                 const EnvPolicy& policy) {
  validate_env_additions(additions, policy);
  EnvMap merged = base;
  for (const auto& [key, value] : additions) merged.insert_or_assign(key, value);
  return to_envp(merged);
}

std::vector<std::string> build_child_environment(const char* const* entries,
                                                 const EnvInherit& inherit, const EnvMap& additions,
                                                 const EnvPolicy& policy) {
  // Additions first: a refusal must come before any work on the entries.
  validate_env_additions(additions, policy);
  std::vector<std::string> dropped;
  EnvMap merged = inherited_environment(entries, inherit, &dropped);
  if (!dropped.empty() && detail::log_enabled(LogLevel::warning)) {
    std::string line = "environment: " + std::to_string(dropped.size()) + " inherited entr" +
                       (dropped.size() == 1 ? "y" : "ies") +
                       " not passed to the child (the key breaks [A-Za-z_][A-Za-z0-9_]*):";
    for (const std::string& d : dropped) line.append(" ").append(d);
    detail::log(LogLevel::warning, line);
  }
  for (const auto& [key, value] : additions) merged.insert_or_assign(key, value);
  return to_envp(merged);
}

std::vector<std::string> build_child_environment(const EnvInherit& inherit, const EnvMap& additions,
                                                 const EnvPolicy& policy) {
#ifdef _WIN32
  // No environ to read: the UTF-16 block, through current_environment().
  validate_env_additions(additions, policy);
  EnvMap merged;
  for (auto& [key, value] : current_environment()) {
    if (inherit.inherits(key)) merged.emplace(key, value);
  }
  for (const auto& [key, value] : additions) merged.insert_or_assign(key, value);
  return to_envp(merged);
#else
  const detail::EnvironSnapshot snapshot = detail::EnvironSnapshot::take();
  return build_child_environment(snapshot.entries(), inherit, additions, policy);
#endif
}

bool environ_passes_as_is(const char* const* entries, const EnvInherit& inherit,
                          const EnvMap& additions) {
  if (!additions.empty() || !inherit.inherits_everything()) return false;
  std::vector<std::string_view> keys;
  for (const char* const* e = entries; e != nullptr && *e != nullptr; ++e) {
    std::string_view key;
    if (!well_formed_entry(*e, &key)) return false;
    keys.push_back(key);
  }
  // A key twice must not reach the child twice (a shell would take the
  // last, getenv() the first): the filtered path keeps the first (item 6).
  std::sort(keys.begin(), keys.end());
  return std::adjacent_find(keys.begin(), keys.end()) == keys.end();
}

bool environ_passes_as_is(const EnvInherit& inherit, const EnvMap& additions) {
#ifdef _WIN32
  // The Windows block is passed by CreateProcessW's own rules.
  return additions.empty() && inherit.inherits_everything();
#else
  const detail::EnvironSnapshot snapshot = detail::EnvironSnapshot::take();
  return environ_passes_as_is(snapshot.entries(), inherit, additions);
#endif
}

}  // namespace safeexec
