// safeexec/env.hpp - environment variables for children: what is inherited,
// what is added, validation and policy.
//
// A child's environment is built in three steps, all before any process
// starts:
//   1. Inherit (EnvInherit, default all()): the parent's environment at spawn
//      time, filtered by the caller's choice - all(), none(), only({names}),
//      then remove({names}) / remove_dangerous(). Every inherited entry is
//      held to the same key grammar as an addition (F01): an entry whose key
//      breaks it (empty, '-', '.', space, non-ASCII, ...) or that holds no
//      '=' at all is DROPPED, and a warning names it (the key, escaped; never
//      the value). Not refused: the host's environment is not the caller's
//      doing, and refusing would make every spawn fail in such a host while
//      the caller could do nothing about it; not silent: a variable that
//      does not arrive is worth a log line. When a key appears twice, the
//      first wins (as getenv() sees it) and reaches the child once.
//   2. Add (addl_env): the caller's additions override what was inherited,
//      whatever the inherit mode (only() and remove() restrict inheritance,
//      not additions). Every addition is checked (F01, F02):
//        * key grammar: [A-Za-z_][A-Za-z0-9_]*  (POSIX portable names; this
//          also rules out the empty key, '=', NUL and every byte a shell
//          would treat specially);
//        * value: any bytes but NUL;
//        * policy: EnvPolicy::deny_dangerous() (the default) refuses names
//          that load code into the child, change how libc, a shell or an
//          interpreter runs it, or change whom it trusts (see is_dangerous;
//          the list and where each name comes from is in env.cpp) unless the
//          caller opts in by name with allow(); EnvPolicy::allow_only()
//          accepts only the names it lists.
//   3. The EnvPolicy governs ADDITIONS only; it is not applied to what is
//      inherited. An LD_PRELOAD in the host's environment was put there by
//      whoever started this process, and is already loaded into it (fakeroot,
//      sanitizer runtimes, libfaketime, a non-system LD_LIBRARY_PATH): a
//      library that silently stripped it would break those set-ups without
//      protecting anything (that person controls the parent already). A
//      caller who wants the children clean says so:
//      EnvInherit::all().remove_dangerous() drops every is_dangerous() name
//      from what is inherited (sudo's env_delete, for one child).
//
// PATH is not dangerous by default, on purpose: setting it is the ordinary,
// documented way to choose which programs a child finds, it is set by callers
// all the time, and it only matters for program names without a '/' (which
// the caller controls; give an absolute argv[0] to avoid a lookup). The names
// on the denylist act on every program of their kind whatever it is asked to
// do (the loader reads LD_PRELOAD before main), which PATH does not. A caller
// that takes environment additions from untrusted input should use
// EnvPolicy::allow_only() anyway, and can leave PATH out of it.
//
// The program itself is looked up in the PATH an addition gives, else in the
// parent's PATH, whatever the inherit mode (as posix_spawnp and execvpe do):
// EnvInherit governs what the child sees, not where it is found.
//
// Each spawn reads environ once (issue 18 item 7): it copies the pointer
// array in one short pass (again when environ moved meanwhile, or when the
// first pointers name no mapping: realloc had just freed the array), then
// the strings, and works on that copy only - the fast-path check, the filtering,
// PATH lookup and the child's envp. A host thread calling setenv() during a
// spawn therefore cannot free an array under one of those passes. What
// remains is glibc's own rule: setenv() concurrent with any reader of
// environ (getenv() included) is undefined; the copy narrows the window to
// one short pass over the pointers, it cannot close it. (glibc never frees
// the strings; a libc that does, such as musl, leaves the string copy open
// to that race too.) When environ keeps moving under every copy (16 tries),
// the spawn fails with a SystemError (EAGAIN) instead of guessing.
//
// With inherit all() (nothing removed), no additions and a well-formed host
// environment in which no key appears twice, that copy is passed to the
// child in environ's order (the spawn fast path). A key twice (possible only
// when this process was exec'd with such a block) reaches the child once,
// the first copy, on every path.
//
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
/// A set of environment variable names.
using EnvNames = std::set<std::string, std::less<>>;

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
  /// injection and trust-changing names (see is_dangerous), each of which may
  /// be opted into with allow().
  static EnvPolicy deny_dangerous();
  /// Only the listed names are accepted (dangerous ones included, since
  /// listing a name is opting in by name).
  static EnvPolicy allow_only(EnvNames names);

  /// Opts in to one name (chainable). Throws InvalidArgument for a malformed name.
  EnvPolicy& allow(std::string name);

  /// True when the policy accepts `key` (which must already be well formed).
  bool permits(std::string_view key) const noexcept;

  /// True for names that load code into a child, change how its loader, libc,
  /// shell or interpreter runs it, or change whom it trusts. Among them:
  /// LD_*, DYLD_*, _RLD*, GCONV_PATH, GLIBC_TUNABLES, MALLOC_*, NLSPATH,
  /// LOCPATH, PATH_LOCALE, HOSTALIASES, RES_OPTIONS, LOCALDOMAIN,
  /// RESOLV_HOST_CONF, NIS_PATH, GETCONF_DIR, TMPDIR, TZDIR, TERMINFO,
  /// TERMINFO_DIRS, TERMPATH, TERMCAP, KRB5_CONFIG*, KRB5_KTNAME, BASH_ENV,
  /// ENV, SHELLOPTS, BASHOPTS, GLOBIGNORE, PS4, PROMPT_COMMAND, IFS, CDPATH,
  /// FPATH, NULLCMD, READNULLCMD, ZDOTDIR, TMPPREFIX, PYTHON*, PERL5*,
  /// PERLLIB, PERLIO_DEBUG, RUBYLIB, RUBYOPT, NODE_OPTIONS, NODE_PATH,
  /// NODE_EXTRA_CA_CERTS, NODE_TLS_REJECT_UNAUTHORIZED, JAVA_TOOL_OPTIONS,
  /// JDK_JAVA_OPTIONS, _JAVA_OPTIONS*, CLASSPATH, LUA_PATH*, LUA_CPATH*,
  /// OPENSSL_CONF, OPENSSL_ENGINES, OPENSSL_MODULES, SSL_CERT_FILE,
  /// SSL_CERT_DIR, SSLKEYLOGFILE, CURL_CA_BUNDLE, REQUESTS_CA_BUNDLE,
  /// GIT_SSH, GIT_SSH_COMMAND, GIT_EXEC_PATH, GIT_ASKPASS, SSH_ASKPASS,
  /// GIT_PROXY_COMMAND, GIT_EXTERNAL_DIFF, GIT_EDITOR, GIT_SEQUENCE_EDITOR,
  /// GIT_PAGER, GIT_TEMPLATE_DIR, GIT_SSL_NO_VERIFY, GIT_CONFIG*,
  /// LESSOPEN, LESSCLOSE, RUSTC_WRAPPER, RUSTC_WORKSPACE_WRAPPER, GOFLAGS,
  /// GOTOOLCHAIN, GOENV, GOSUMDB, GONOSUMDB, GONOSUMCHECK, GOINSECURE,
  /// GOPRIVATE. PATH is not one of them (see the header comment).
  static bool is_dangerous(std::string_view key) noexcept;

  bool is_allowlist() const noexcept { return allowlist_; }

 private:
  bool allowlist_ = false;
  EnvNames allowed_;
};

/// Which of the parent's variables a child inherits (before additions).
/// A value type with chainable modifiers; the default is all().
///
///   EnvInherit::all()                          today's default: everything
///   EnvInherit::none()                         nothing (only the additions)
///   EnvInherit::only({"PATH", "HOME", "LANG"}) just these, when set
///   EnvInherit::all().remove({"AWS_SECRET_ACCESS_KEY", "GITHUB_TOKEN"})
///   EnvInherit::all().remove_dangerous()       no LD_PRELOAD & co from the host
///
/// Whatever the mode, inherited entries whose key breaks the grammar are
/// dropped with a warning (see the header comment).
class EnvInherit {
 public:
  /// Every variable of the parent (the default).
  static EnvInherit all() noexcept { return EnvInherit(); }
  /// None of them: the child sees the additions only.
  static EnvInherit none() noexcept;
  /// Only the listed names (those the parent has). Throws InvalidArgument
  /// for a malformed name (a typo such as "PATH=" would otherwise silently
  /// inherit nothing).
  static EnvInherit only(EnvNames names);

  /// Never inherit these names (chainable; wins over only()). Throws
  /// InvalidArgument for a malformed name.
  EnvInherit& remove(EnvNames names);
  /// Never inherit a name EnvPolicy::is_dangerous() reports (chainable).
  EnvInherit& remove_dangerous() noexcept;

  /// True when a well-formed `key` of the parent's reaches the child.
  bool inherits(std::string_view key) const noexcept;
  /// True for all() with nothing removed: every well-formed entry passes.
  bool inherits_everything() const noexcept;

  enum class Mode { all, none, only };
  Mode mode() const noexcept { return mode_; }
  const EnvNames& only_names() const noexcept { return only_; }
  const EnvNames& removed_names() const noexcept { return removed_; }
  bool removes_dangerous() const noexcept { return remove_dangerous_; }

 private:
  Mode mode_ = Mode::all;
  bool remove_dangerous_ = false;
  EnvNames only_;
  EnvNames removed_;
};

/// Checks every addition against the grammar, the NUL rule and `policy`;
/// throws InvalidArgument on the first refusal (in key order).
void validate_env_additions(const EnvMap& additions, const EnvPolicy& policy);

/// A snapshot of this process's environment (entries without '=' skipped).
EnvMap current_environment();

/// What a child inherits from `entries` (a NULL-terminated array of
/// "KEY=VALUE" strings, as environ is; nullptr means none) under `inherit`:
/// entries without '=' or whose key breaks the grammar are dropped, the first
/// entry of a key wins, then `inherit` filters. When `dropped` is not null,
/// it receives one printable description per dropped malformed entry (the
/// key escaped and cut to 64 bytes, never the value).
EnvMap inherited_environment(const char* const* entries, const EnvInherit& inherit,
                             std::vector<std::string>* dropped = nullptr);

/// The environment a child gets: `base` with `additions` applied on top,
/// after validate_env_additions(). Returned as "KEY=VALUE" strings, sorted by key.
std::vector<std::string> build_child_environment(const EnvMap& base, const EnvMap& additions,
                                                 const EnvPolicy& policy);

/// The environment a child gets from `entries` (NULL-terminated, as
/// environ): inherited_environment() under `inherit` (logging one warning
/// when malformed entries were dropped), with `additions` applied on top
/// after validate_env_additions(). Sorted "KEY=VALUE" strings.
std::vector<std::string> build_child_environment(const char* const* entries,
                                                 const EnvInherit& inherit, const EnvMap& additions,
                                                 const EnvPolicy& policy);

/// The same from this process's environment (one snapshot of environ).
std::vector<std::string> build_child_environment(const EnvInherit& inherit, const EnvMap& additions,
                                                 const EnvPolicy& policy);

/// True when `entries` can be handed to a child as they are: inherit
/// everything, no additions, every entry well formed and no key twice. The
/// spawn fast path.
bool environ_passes_as_is(const char* const* entries, const EnvInherit& inherit,
                          const EnvMap& additions);

/// The same for this process's environment (one snapshot of environ).
bool environ_passes_as_is(const EnvInherit& inherit, const EnvMap& additions);

}  // namespace safeexec
