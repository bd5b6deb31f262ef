// fuzz_env - environment keys and values through validation, EnvPolicy and
// the envp built for a child (F01, F02).
//
// Input layout (see fuzz_input.hpp; fuzz/make_seeds.py writes seeds):
//   from the end: flags byte (bits 0-1 policy kind: 0/1 deny_dangerous,
//                 2 deny_dangerous + allow(names), 3 allow_only(names);
//                 bits 2-3 inherit kind: 0 all, 1 none, 2 only(names),
//                 3 all().remove(names); bit 4: remove_dangerous() too;
//                 bits 5-7 all set: also spawn the helper child in `env` mode),
//                 the number of policy names (0..4), the number of additions (0..8);
//   from the front: the policy names, then key, value, key, value, ...
//
// Invariants checked on every input:
//   * is_valid_env_key and validate_env_key agree with the documented grammar
//     [A-Za-z_][A-Za-z0-9_]* (independent reference below): an accepted key is
//     non-empty and holds no '=' or NUL; a refused one raises InvalidArgument;
//   * validate_env_value refuses exactly the values holding NUL, and its
//     message never depends on the value (it may be a secret);
//   * every name the header documents as dangerous is refused by default;
//     permits() follows the policy (allowlist / denylist + opt-ins);
//   * validate_env_additions and build_child_environment refuse exactly the
//     inputs the reference refuses, with InvalidArgument and nothing else;
//   * an accepted envp is sorted, every entry is KEY=VALUE, and it parses
//     back to exactly base-with-additions (an '=' in a key would show here);
//   * EnvInherit::only/remove refuse exactly the malformed names;
//     inherited_environment() of a synthetic environ (the additions as raw
//     "key=value" entries, '='-less entries, duplicates) keeps exactly the
//     well-formed entries the reference inherit rule keeps, first one of a
//     key winning, and reports one drop per malformed entry, never a value;
//   * with the spawn flag: execute() of `safeexec-test-child env` either
//     refuses before any pipe or clone (refused additions), or the child
//     reports exactly this process's environment, filtered by the inherit
//     rule, with the additions applied;
//     afterwards the descriptors and children are exactly as before.
#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_input.hpp"
#include "fuzz_utils.hpp"
#include "safeexec/safeexec.hpp"

namespace {

using safeexec::EnvMap;
using safeexec::EnvPolicy;
using safeexec::InvalidArgument;
using safeexec_fuzz::printable;

// Keys and values longer than a few hundred bytes take the same code paths
// as short ones; a 4 KiB cap keeps the in-process path fast (>10^5 exec/s).
constexpr std::size_t kMaxInputBytes = 4096;

// The reference grammar, written from env.hpp's contract, not from env.cpp.
bool reference_valid_key(std::string_view key) {
  if (key.empty()) return false;
  for (std::size_t i = 0; i < key.size(); ++i) {
    const char c = key[i];
    const bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
    const bool digit = c >= '0' && c <= '9';
    if (!(alpha || (i > 0 && digit))) return false;
  }
  return true;
}

// The names env.hpp documents as dangerous. The library may refuse more
// (that is safe); it must refuse at least these.
bool documented_dangerous(std::string_view key) {
  static constexpr auto kNames = std::to_array<std::string_view>({"GCONV_PATH",
                                                                  "GLIBC_TUNABLES",
                                                                  "NLSPATH",
                                                                  "LOCPATH",
                                                                  "HOSTALIASES",
                                                                  "RES_OPTIONS",
                                                                  "LOCALDOMAIN",
                                                                  "RESOLV_HOST_CONF",
                                                                  "NIS_PATH",
                                                                  "GETCONF_DIR",
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
                                                                  "JAVA_TOOL_OPTIONS",
                                                                  "_JAVA_OPTIONS",
                                                                  "JDK_JAVA_OPTIONS",
                                                                  "CLASSPATH",
                                                                  "OPENSSL_CONF",
                                                                  "OPENSSL_ENGINES",
                                                                  "OPENSSL_MODULES",
                                                                  "SSL_CERT_FILE",
                                                                  "SSL_CERT_DIR",
                                                                  "SSLKEYLOGFILE",
                                                                  "GIT_SSH_COMMAND",
                                                                  "GIT_SSH",
                                                                  "GIT_EXEC_PATH",
                                                                  "GIT_ASKPASS",
                                                                  "SSH_ASKPASS",
                                                                  "PATH_LOCALE",
                                                                  "TERMINFO",
                                                                  "GLOBIGNORE",
                                                                  "FPATH",
                                                                  "ZDOTDIR",
                                                                  "NODE_EXTRA_CA_CERTS",
                                                                  "RUSTC_WRAPPER",
                                                                  "GOFLAGS",
                                                                  "GOTOOLCHAIN",
                                                                  "LESSOPEN",
                                                                  "CURL_CA_BUNDLE",
                                                                  "REQUESTS_CA_BUNDLE"});
  static constexpr auto kPrefixes =
      std::to_array<std::string_view>({"LD_", "DYLD_", "MALLOC_", "PYTHON", "PERL5", "LUA_PATH",
                                       "LUA_CPATH", "GIT_CONFIG", "KRB5_CONFIG", "_RLD"});
  for (std::string_view n : kNames) {
    if (key == n) return true;
  }
  for (std::string_view p : kPrefixes) {
    if (key.substr(0, p.size()) == p) return true;
  }
  return false;
}

bool has_nul(std::string_view s) {
  return s.find('\0') != std::string_view::npos;
}

/// Runs f; returns the InvalidArgument message, or nullopt when f did not
/// throw. Any other exception is a finding.
template <class F>
std::optional<std::string> invalid_argument_from(F&& f, const char* what) {
  try {
    f();
  } catch (const InvalidArgument& e) {
    return std::string(e.what());
  } catch (const std::exception& e) {
    FUZZ_CHECK(false,
               std::string(what) + " threw something other than InvalidArgument: " + e.what());
  }
  return std::nullopt;
}

/// "K=V" entries -> map; every entry must hold '=' and every key be unique.
EnvMap parse_envp(const std::vector<std::string>& entries, const char* where) {
  EnvMap out;
  for (const std::string& e : entries) {
    const std::size_t eq = e.find('=');
    FUZZ_CHECK(eq != std::string::npos,
               std::string(where) + ": entry without '=': " + printable(e));
    const bool fresh = out.emplace(e.substr(0, eq), e.substr(eq + 1)).second;
    FUZZ_CHECK(fresh, std::string(where) + ": duplicate key in " + printable(e));
  }
  return out;
}

/// The first key where two environments differ, for the report.
std::string first_difference(const EnvMap& got, const EnvMap& want) {
  for (const auto& [k, v] : want) {
    const auto it = got.find(k);
    if (it == got.end()) return "missing " + printable(k);
    if (it->second != v)
      return printable(k) + " is " + printable(it->second) + ", expected " + printable(v);
  }
  for (const auto& [k, v] : got) {
    if (want.count(k) == 0) return "unexpected " + printable(k) + "=" + printable(v);
  }
  return "equal";
}

const EnvMap& synthetic_base() {
  // The parent's own environment may hold anything, dangerous names included:
  // the policy governs additions only.
  static const EnvMap base = {{"HOME", "/home/fuzz"},
                              {"LD_PRELOAD", "/parent/own/preload.so"},
                              {"PATH", "/usr/bin:/bin"},
                              {"ZZ_LAST", "z=z"}};
  return base;
}

/// The inherit rule as env.hpp states it, written independently of env.cpp.
struct ReferenceInherit {
  unsigned kind = 0;  // 0 all, 1 none, 2 only(names), 3 all().remove(names)
  bool drop_dangerous = false;
  std::set<std::string, std::less<>> names;  // the well-formed ones

  bool keeps(std::string_view key) const {
    if (drop_dangerous && EnvPolicy::is_dangerous(key)) return false;
    switch (kind) {
      case 0:
        return true;
      case 1:
        return false;
      case 2:
        return names.count(key) != 0;
      default:
        return names.count(key) == 0;
    }
  }
};

/// `entries` as a child inherits them under `rule`: entries without '=' or
/// with a malformed key dropped (counted in *dropped), first of a key wins.
EnvMap reference_inherited(const std::vector<std::string>& entries, const ReferenceInherit& rule,
                           std::size_t* dropped) {
  EnvMap out;
  for (const std::string& e : entries) {
    const std::size_t eq = e.find('=');
    if (eq == std::string::npos || !reference_valid_key(std::string_view(e).substr(0, eq))) {
      ++*dropped;
      continue;
    }
    const std::string key = e.substr(0, eq);
    if (rule.keeps(key)) out.emplace(key, e.substr(eq + 1));
  }
  return out;
}

void check_spawn(const EnvMap& additions, const EnvPolicy& policy, bool expected_ok,
                 const safeexec::EnvInherit& inherit, const ReferenceInherit& rule) {
  const auto before = safeexec_fuzz::ProcessSnapshot::take();
  const auto attempts = safeexec_fuzz::SpawnAttempts::now();
  const EnvMap parent_env = safeexec::current_environment();
  try {
    const safeexec::ExecuteResult r = safeexec::execute(
        {safeexec_fuzz::test_child(), "env"},
        safeexec::ExecuteOptions{}
            .spawn(safeexec::SpawnOptions{}.addl_env(additions).env_policy(policy).inherit_env(
                inherit))
            .timeout(std::chrono::seconds(10))
            .kill_grace(std::chrono::milliseconds(200)));
    FUZZ_CHECK(expected_ok, "execute() started a child with refused environment additions");
    std::vector<std::string> entries;
    std::size_t start = 0;
    while (start < r.out.size()) {
      const std::size_t end = r.out.find('\0', start);
      FUZZ_CHECK(end != std::string::npos, "child env output not NUL-terminated");
      entries.push_back(r.out.substr(start, end - start));
      start = end + 1;
    }
    EnvMap expected;
    for (const auto& [k, v] : parent_env) {
      if (reference_valid_key(k) && rule.keeps(k)) expected.emplace(k, v);
    }
    for (const auto& [k, v] : additions) expected.insert_or_assign(k, v);
    const EnvMap got = parse_envp(entries, "child environment");
    FUZZ_CHECK(got == expected, "the child's environment is not parent + additions: " +
                                    first_difference(got, expected));
  } catch (const InvalidArgument& e) {
    FUZZ_CHECK(!expected_ok, std::string("execute() refused acceptable additions: ") + e.what());
    FUZZ_CHECK(safeexec_fuzz::SpawnAttempts::now() == attempts,
               "refused additions, yet a pipe or a child was created");
  } catch (const safeexec::Error& e) {
    FUZZ_CHECK(false, std::string("execute() of the env helper failed: ") + e.what());
  }
  safeexec_fuzz::check_nothing_left_behind(before, "fuzz_env spawn");
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  safeexec_fuzz::locate_test_child(*argc > 0 ? (*argv)[0] : nullptr);
  // The library logs (spawns at debug level, failures at error level): keep
  // that off the fuzzer's output.
  safeexec_fuzz::LogCapture::install();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > kMaxInputBytes) return 0;
  safeexec_fuzz::LogCapture::install().clear();
  safeexec_fuzz::FuzzInput in(data, size);
  const auto flags = in.integral<std::uint8_t>();
  const auto n_names = in.integral_in_range<std::size_t>(0, 4);
  const auto n_additions = in.integral_in_range<std::size_t>(0, 8);
  const unsigned policy_kind = flags & 3U;
  const bool spawn = (flags & 0xE0U) == 0xE0U;

  // 1. The policy, and the names it opts in.
  std::vector<std::string> names;
  for (std::size_t i = 0; i < n_names; ++i) names.push_back(in.random_length_string(64));
  EnvPolicy policy = EnvPolicy::deny_dangerous();
  std::set<std::string, std::less<>> allowed;
  if (policy_kind == 2) {
    for (const std::string& n : names) {
      const auto refused = invalid_argument_from([&] { policy.allow(n); }, "EnvPolicy::allow");
      FUZZ_CHECK(refused.has_value() == !reference_valid_key(n),
                 "EnvPolicy::allow disagrees with the grammar on " + printable(n));
      if (!refused) allowed.insert(n);
    }
  } else if (policy_kind == 3) {
    std::set<std::string, std::less<>> listed(names.begin(), names.end());
    bool any_invalid = false;
    for (const std::string& n : listed) any_invalid = any_invalid || !reference_valid_key(n);
    const auto refused = invalid_argument_from([&] { policy = EnvPolicy::allow_only(listed); },
                                               "EnvPolicy::allow_only");
    FUZZ_CHECK(refused.has_value() == any_invalid,
               "EnvPolicy::allow_only disagrees with the grammar");
    if (refused) {
      std::erase_if(listed, [](const std::string& n) { return !reference_valid_key(n); });
      policy = EnvPolicy::allow_only(listed);
    }
    allowed = listed;
  }
  FUZZ_CHECK(policy.is_allowlist() == (policy_kind == 3), "is_allowlist() is wrong");

  // 1b. What is inherited: the same names, as only() or remove() lists.
  ReferenceInherit rule;
  rule.kind = (flags >> 2U) & 3U;
  rule.drop_dangerous = (flags & 0x10U) != 0;
  safeexec::EnvInherit inherit =
      rule.kind == 1 ? safeexec::EnvInherit::none() : safeexec::EnvInherit::all();
  if (rule.kind >= 2) {
    std::set<std::string, std::less<>> listed(names.begin(), names.end());
    bool any_invalid = false;
    for (const std::string& n : listed) any_invalid = any_invalid || !reference_valid_key(n);
    const auto refused = invalid_argument_from(
        [&] {
          inherit = rule.kind == 2 ? safeexec::EnvInherit::only(listed)
                                   : safeexec::EnvInherit::all().remove(listed);
        },
        "EnvInherit::only/remove");
    FUZZ_CHECK(refused.has_value() == any_invalid,
               "EnvInherit::only/remove disagree with the grammar");
    std::erase_if(listed, [](const std::string& n) { return !reference_valid_key(n); });
    inherit = rule.kind == 2 ? safeexec::EnvInherit::only(listed)
                             : safeexec::EnvInherit::all().remove(listed);
    rule.names = std::move(listed);
  }
  if (rule.drop_dangerous) inherit.remove_dangerous();

  // 2. The additions, one key at a time.
  EnvMap additions;
  for (std::size_t i = 0; i < n_additions; ++i) {
    std::string key = in.random_length_string(96);
    std::string value = in.random_length_string(512);
    additions.insert_or_assign(std::move(key), std::move(value));
  }
  bool expected_ok = true;
  bool opted_into_dangerous = false;
  for (const auto& entry : additions) {
    // Named references, not a structured binding: clang 14 cannot capture those.
    const std::string& key = entry.first;
    const std::string& value = entry.second;
    const bool valid = reference_valid_key(key);
    FUZZ_CHECK(safeexec::is_valid_env_key(key) == valid,
               "is_valid_env_key disagrees with the grammar on " + printable(key));
    const auto key_refused =
        invalid_argument_from([&] { safeexec::validate_env_key(key); }, "validate_env_key");
    FUZZ_CHECK(key_refused.has_value() == !valid,
               "validate_env_key disagrees with the grammar on " + printable(key));
    if (!key_refused) {
      FUZZ_CHECK(!key.empty() && key.find('=') == std::string::npos && !has_nul(key),
                 "an accepted key is empty or holds '=' or NUL: " + printable(key));
    }

    const auto value_refused = invalid_argument_from(
        [&] { safeexec::validate_env_value(key, value); }, "validate_env_value");
    FUZZ_CHECK(value_refused.has_value() == has_nul(value),
               "validate_env_value must refuse exactly the values holding NUL");
    if (value_refused) {
      // The message names the key only: another NUL-holding value must give
      // the very same text.
      const auto other = invalid_argument_from(
          [&] { safeexec::validate_env_value(key, std::string("\0other", 6)); },
          "validate_env_value");
      FUZZ_CHECK(other == value_refused,
                 "validate_env_value's message depends on the value: " + printable(*value_refused));
    }

    if (valid) {
      if (documented_dangerous(key)) {
        FUZZ_CHECK(EnvPolicy::is_dangerous(key), "documented dangerous name not refused: " + key);
      }
      const bool listed = allowed.count(key) != 0;
      const bool want = policy_kind == 3 ? listed : (listed || !EnvPolicy::is_dangerous(key));
      FUZZ_CHECK(policy.permits(key) == want, "permits() does not follow the policy for " + key);
      if (want && EnvPolicy::is_dangerous(key)) opted_into_dangerous = true;
      expected_ok = expected_ok && want;
    } else {
      expected_ok = false;
    }
    expected_ok = expected_ok && !has_nul(value);
  }

  // 3. The whole set of additions, and the envp built from it.
  const auto additions_refused = invalid_argument_from(
      [&] { safeexec::validate_env_additions(additions, policy); }, "validate_env_additions");
  FUZZ_CHECK(additions_refused.has_value() == !expected_ok,
             "validate_env_additions disagrees with the reference");
  if (additions_refused) {
    // Same keys, values replaced by different ones of the same kind (NUL or
    // not): the refusal, and so the message, must be the same.
    EnvMap masked;
    for (const auto& [k, v] : additions) {
      masked.emplace(k, has_nul(v) ? std::string("\0m", 2) : std::string("masked"));
    }
    const auto again = invalid_argument_from(
        [&] { safeexec::validate_env_additions(masked, policy); }, "validate_env_additions");
    FUZZ_CHECK(again == additions_refused, "validate_env_additions' message depends on a value: " +
                                               printable(*additions_refused));
  }

  std::vector<std::string> envp;
  const auto build_refused = invalid_argument_from(
      [&] { envp = safeexec::build_child_environment(synthetic_base(), additions, policy); },
      "build_child_environment");
  FUZZ_CHECK(build_refused.has_value() == !expected_ok,
             "build_child_environment disagrees with the reference");
  if (!build_refused) {
    for (std::size_t i = 1; i < envp.size(); ++i) {
      const std::string_view a = std::string_view(envp[i - 1]).substr(0, envp[i - 1].find('='));
      const std::string_view b = std::string_view(envp[i]).substr(0, envp[i].find('='));
      FUZZ_CHECK(a < b, "envp is not sorted by key with unique keys");
    }
    EnvMap expected = synthetic_base();
    for (const auto& [k, v] : additions) expected.insert_or_assign(k, v);
    FUZZ_CHECK(parse_envp(envp, "build_child_environment") == expected,
               "envp does not parse back to base + additions");
    for (const std::string& e : envp) {
      const std::string key = e.substr(0, e.find('='));
      if (synthetic_base().count(key) == 0) {
        FUZZ_CHECK(policy.permits(key), "a refused name reached the envp: " + key);
      }
    }
  }

  // 3b. Inheritance from a synthetic environ: the base, every addition as a
  //     raw entry (as a C string: cut at its first NUL), and every key alone.
  {
    std::vector<std::string> raw;
    for (const auto& [k, v] : synthetic_base()) raw.push_back(k + "=" + v);
    for (const auto& [k, v] : additions) {
      const std::string entry = k + "=" + v;
      raw.emplace_back(entry.c_str());
      raw.emplace_back(k.c_str());
    }
    std::vector<const char*> ptrs;
    for (const std::string& e : raw) ptrs.push_back(e.c_str());
    ptrs.push_back(nullptr);
    std::vector<std::string> dropped;
    const EnvMap got = safeexec::inherited_environment(ptrs.data(), inherit, &dropped);
    std::size_t want_dropped = 0;
    const EnvMap want = reference_inherited(raw, rule, &want_dropped);
    FUZZ_CHECK(got == want, "inherited_environment disagrees with the reference: " +
                                first_difference(got, want));
    FUZZ_CHECK(dropped.size() == want_dropped,
               "inherited_environment reports a wrong number of dropped entries");
    // A description may show a name (the text before '=', or a whole entry
    // that has none), never a value. A value that is also part of some
    // entry's name cannot be told apart, so it is not checked.
    const auto in_some_name = [&raw](const std::string& value) {
      return std::any_of(raw.begin(), raw.end(), [&value](const std::string& e) {
        return e.substr(0, e.find('=')).find(value) != std::string::npos;
      });
    };
    for (const std::string& e : raw) {
      const std::size_t eq = e.find('=');
      if (eq == std::string::npos || reference_valid_key(e.substr(0, eq))) continue;
      const std::string value = e.substr(eq + 1);
      if (value.size() < 8 || in_some_name(value)) continue;
      for (const std::string& d : dropped) {
        FUZZ_CHECK(d.find(value) == std::string::npos,
                   "a dropped entry's value appears in its description: " + printable(d));
      }
    }
  }

  // 4. Now and then, the real thing: a child reports its environment. Not
  //    when the input opted into a loader/interpreter name: LD_PRELOAD or
  //    GLIBC_TUNABLES with fuzzed values may legitimately break the child.
  if (spawn && !opted_into_dangerous) check_spawn(additions, policy, expected_ok, inherit, rule);
  // Free what this input allocated, within this input: libFuzzer re-runs an
  // input under LeakSanitizer whenever mallocs and frees do not balance.
  safeexec_fuzz::LogCapture::install().clear();
  return 0;
}
