// safeexec/env.hpp - environment variables for children: validation and policy.
//
// A child's environment is the parent's environment at spawn time plus the
// caller's additions (which override). Every addition is checked before any
// process starts (F01, F02):
//   * key grammar: [A-Za-z_][A-Za-z0-9_]*  (POSIX portable names; this also
//     rules out the empty key, '=', NUL and every byte a shell would treat
//     specially);
//   * value: any bytes but NUL;
//   * policy: EnvPolicy::deny_dangerous() (the default) refuses names that
//     change how the dynamic loader, libc or a shell/interpreter behaves
//     (LD_*, GCONV_PATH, GLIBC_TUNABLES, BASH_ENV, ENV, PYTHONPATH, ...)
//     unless the caller opts in by name with allow(); EnvPolicy::allow_only()
//     accepts only the names it lists.
// Error messages name the refused key, never its value.
#pragma once

#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace safeexec {

/// Environment additions: name -> value.
using EnvMap = std::map<std::string, std::string, std::less<>>;

/// True when `key` matches [A-Za-z_][A-Za-z0-9_]*.
bool is_valid_env_key(std::string_view key) noexcept;

/// Throws InvalidArgument when `key` is empty, holds '=' or NUL, or breaks the grammar.
void validate_env_key(std::string_view key);

/// Throws InvalidArgument when `value` holds NUL. The message names `key`
/// only, never the value (it may be a secret).
void validate_env_value(std::string_view key, std::string_view value);

/// Which well-formed names a caller may add to a child's environment.
class EnvPolicy {
 public:
  /// The default: any well-formed name except loader/libc/interpreter
  /// injection names (see is_dangerous), each of which may be opted into
  /// with allow().
  static EnvPolicy deny_dangerous();
  /// Only the listed names are accepted (dangerous ones included, since
  /// listing a name is opting in by name).
  static EnvPolicy allow_only(std::set<std::string, std::less<>> names);

  /// Opts in to one name (chainable). Throws InvalidArgument for a malformed name.
  EnvPolicy& allow(std::string name);

  /// True when the policy accepts `key` (which must already be well formed).
  bool permits(std::string_view key) const noexcept;

  /// True for names that change how a child is loaded or interpreted:
  /// LD_*, DYLD_*, GCONV_PATH, GLIBC_TUNABLES, MALLOC_*, NLSPATH, LOCPATH,
  /// HOSTALIASES, RES_OPTIONS, LOCALDOMAIN, RESOLV_HOST_CONF, NIS_PATH,
  /// GETCONF_DIR, TMPDIR, TZDIR, BASH_ENV, ENV, SHELLOPTS, BASHOPTS, PS4,
  /// PROMPT_COMMAND, IFS, CDPATH, PYTHON*, PERL5*, PERLLIB, RUBYLIB, RUBYOPT,
  /// NODE_OPTIONS, NODE_PATH, JAVA_TOOL_OPTIONS, _JAVA_OPTIONS, LUA_PATH*,
  /// LUA_CPATH*.
  static bool is_dangerous(std::string_view key) noexcept;

  bool is_allowlist() const noexcept { return allowlist_; }

 private:
  bool allowlist_ = false;
  std::set<std::string, std::less<>> allowed_;
};

/// Checks every addition against the grammar, the NUL rule and `policy`;
/// throws InvalidArgument on the first refusal (in key order).
void validate_env_additions(const EnvMap& additions, const EnvPolicy& policy);

/// A snapshot of this process's environment (entries without '=' skipped).
EnvMap current_environment();

/// The environment a child gets: `base` with `additions` applied on top,
/// after validate_env_additions(). Returned as "KEY=VALUE" strings, sorted by key.
std::vector<std::string> build_child_environment(const EnvMap& base, const EnvMap& additions,
                                                 const EnvPolicy& policy);

}  // namespace safeexec
