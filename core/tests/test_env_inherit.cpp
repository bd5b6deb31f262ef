// Item 17 of issue 12 (F01/F02 continued): the caller controls what a child
// inherits from the parent's environment - all (the default), none, only an
// allowlist, minus named variables, minus dangerous ones - and what is
// inherited is held to the same key grammar as an addition. A secret set in
// the parent must not reach the child under none()/only()/remove(); the
// denylist covers the code-loading and trust-changing names the issue lists.
#include <stdlib.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "leak_check.hpp"
#include "support/scoped_environ.hpp"
#include "test_child.hpp"

extern char** environ;  // NOLINT(readability-redundant-declaration)

namespace {

using safeexec::EnvInherit;
using safeexec::EnvMap;
using safeexec::EnvPolicy;
using safeexec::testing::Call;
using safeexec::testing::call_count;
using safeexec_test::bounded;
using safeexec_test::child_cmd;
using EnvInheritTest = safeexec_test::LeakChecked;

constexpr const char* kSecret = "SAFEEXEC_T_SECRET_TOKEN";
constexpr const char* kSecretValue = "hunter2-do-not-leak";

// Sets a variable in this process for the scope of one test.
class ScopedSetenv {
 public:
  ScopedSetenv(const char* name, const char* value) : name_(name) {
    EXPECT_EQ(::setenv(name, value, 1), 0);
  }
  ScopedSetenv(const ScopedSetenv&) = delete;
  ScopedSetenv& operator=(const ScopedSetenv&) = delete;
  ~ScopedSetenv() { ::unsetenv(name_.c_str()); }

 private:
  std::string name_;
};
using safeexec_test_support::ScopedEnviron;

std::string key_of(const std::string& entry) {
  return entry.substr(0, entry.find('='));
}

// What the child must see: the parent's entries whose key `keep` accepts,
// then the additions on top; sorted.
template <class Keep>
std::vector<std::string> expected_env(Keep keep, const EnvMap& additions = {}) {
  std::vector<std::string> out;
  for (const std::string& entry : safeexec_test::parent_environment()) {
    const std::string key = key_of(entry);
    if (additions.count(key) == 0 && keep(key)) out.push_back(entry);
  }
  for (const auto& [k, v] : additions) out.push_back(k + "=" + v);
  std::sort(out.begin(), out.end());
  return out;
}

// The child's environment through both spawn paths must be `want`.
void expect_child_env(const EnvInherit& inherit, const EnvMap& additions,
                      const std::vector<std::string>& want) {
  EXPECT_EQ(safeexec_test::env_seen_by_child(
                bounded().spawn(safeexec::SpawnOptions{}.inherit_env(inherit).addl_env(additions))),
            want)
      << "through execute()";
  EXPECT_EQ(safeexec_test::env_seen_by_spawned_child(
                safeexec::SpawnOptions{}.inherit_env(inherit).addl_env(additions)),
            want)
      << "through create_process()";
}

bool mentions_secret(const std::vector<std::string>& env) {
  return std::any_of(env.begin(), env.end(), [](const std::string& e) {
    return e.find(kSecret) != std::string::npos || e.find(kSecretValue) != std::string::npos;
  });
}

TEST_F(EnvInheritTest, DefaultAndAllInheritEverything) {
  const ScopedSetenv secret(kSecret, kSecretValue);
  EXPECT_EQ(safeexec::ExecuteOptions{}.spawn().inherit_env().mode(), EnvInherit::Mode::all);
  EXPECT_EQ(safeexec::SpawnOptions{}.inherit_env().mode(), EnvInherit::Mode::all);
  EXPECT_TRUE(EnvInherit::all().inherits_everything());
  const std::vector<std::string> parent = safeexec_test::parent_environment();
  expect_child_env(EnvInherit::all(), {}, parent);
  EXPECT_EQ(safeexec_test::env_seen_by_child(), parent);
}

TEST_F(EnvInheritTest, NoneInheritsNothing) {
  const ScopedSetenv secret(kSecret, kSecretValue);
  expect_child_env(EnvInherit::none(), {}, {});
  // The additions alone, exactly.
  const EnvMap additions = {{"SAFEEXEC_T_A", "1"}, {"PATH", "/usr/bin:/bin"}};
  expect_child_env(EnvInherit::none(), additions, {"PATH=/usr/bin:/bin", "SAFEEXEC_T_A=1"});
  // The parent keeps its own.
  EXPECT_STREQ(::getenv(kSecret), kSecretValue);
}

TEST_F(EnvInheritTest, OnlyInheritsTheListedNames) {
  const ScopedSetenv secret(kSecret, kSecretValue);
  const ScopedSetenv keep("SAFEEXEC_T_KEEP", "kept");
  ::unsetenv("SAFEEXEC_T_NOT_SET");
  const EnvInherit inherit = EnvInherit::only({"SAFEEXEC_T_KEEP", "SAFEEXEC_T_NOT_SET", "PATH"});
  EXPECT_EQ(inherit.mode(), EnvInherit::Mode::only);
  const std::vector<std::string> want =
      expected_env([](const std::string& k) { return k == "SAFEEXEC_T_KEEP" || k == "PATH"; });
  ASSERT_FALSE(mentions_secret(want));
  ASSERT_NE(std::find(want.begin(), want.end(), "SAFEEXEC_T_KEEP=kept"), want.end());
  expect_child_env(inherit, {}, want);
  // Additions are not limited by only(): they are the caller's own.
  const EnvMap additions = {{"SAFEEXEC_T_ADDED", "a"}, {"SAFEEXEC_T_KEEP", "overridden"}};
  expect_child_env(inherit, additions,
                   expected_env([](const std::string& k) { return k == "PATH"; }, additions));
}

TEST_F(EnvInheritTest, RemoveDropsTheNamedVariables) {
  const ScopedSetenv secret(kSecret, kSecretValue);
  const ScopedSetenv other("SAFEEXEC_T_OTHER", "stays");
  EnvInherit inherit = EnvInherit::all();
  inherit.remove({kSecret}).remove({"SAFEEXEC_T_NEVER_SET"});
  EXPECT_FALSE(inherit.inherits_everything());
  EXPECT_FALSE(inherit.inherits(kSecret));
  EXPECT_TRUE(inherit.inherits("SAFEEXEC_T_OTHER"));
  const std::vector<std::string> want =
      expected_env([](const std::string& k) { return k != kSecret; });
  ASSERT_FALSE(mentions_secret(want));
  expect_child_env(inherit, {}, want);

  // remove() wins over only().
  const EnvInherit only_minus = EnvInherit::only({kSecret, "SAFEEXEC_T_OTHER"}).remove({kSecret});
  expect_child_env(only_minus, {}, {"SAFEEXEC_T_OTHER=stays"});

  // An addition of a removed name is the caller's explicit choice: it arrives.
  const EnvMap additions = {{kSecret, "given-on-purpose"}};
  expect_child_env(inherit, additions,
                   expected_env([](const std::string& k) { return k != kSecret; }, additions));
}

TEST_F(EnvInheritTest, SecretNeverReachesTheChildUnderAnyRestrictingMode) {
  const ScopedSetenv secret(kSecret, kSecretValue);
  for (const EnvInherit& inherit :
       {EnvInherit::none(), EnvInherit::only({"PATH", "HOME"}), EnvInherit::all().remove({kSecret}),
        EnvInherit::only({"PATH", kSecret}).remove({kSecret})}) {
    EXPECT_FALSE(mentions_secret(safeexec_test::env_seen_by_child(
        bounded().spawn(safeexec::SpawnOptions{}.inherit_env(inherit)))));
    EXPECT_FALSE(mentions_secret(
        safeexec_test::env_seen_by_spawned_child(safeexec::SpawnOptions{}.inherit_env(inherit))));
  }
}

TEST_F(EnvInheritTest, DangerousHostVariablesPassByDefaultAndGoWithRemoveDangerous) {
  // Documented decision: the EnvPolicy governs additions; what the host set
  // is inherited unless the caller asks remove_dangerous(). These names are
  // dangerous by prefix but change nothing for the helper child.
  const ScopedSetenv py("PYTHON_SAFEEXEC_T", "1");
  const ScopedSetenv git("GIT_CONFIG_SAFEEXEC_T", "1");
  const ScopedSetenv plain("SAFEEXEC_T_PLAIN", "1");
  ASSERT_TRUE(EnvPolicy::is_dangerous("PYTHON_SAFEEXEC_T"));
  ASSERT_TRUE(EnvPolicy::is_dangerous("GIT_CONFIG_SAFEEXEC_T"));
  expect_child_env(EnvInherit::all(), {}, safeexec_test::parent_environment());

  EnvInherit clean = EnvInherit::all();
  clean.remove_dangerous();
  EXPECT_TRUE(clean.removes_dangerous());
  const std::vector<std::string> want =
      expected_env([](const std::string& k) { return !EnvPolicy::is_dangerous(k); });
  EXPECT_EQ(std::count(want.begin(), want.end(), "SAFEEXEC_T_PLAIN=1"), 1);
  expect_child_env(clean, {}, want);
  // remove_dangerous() does not refuse additions the policy allows.
  const EnvMap opted = {{"PYTHON_SAFEEXEC_T", "given"}};
  EXPECT_EQ(safeexec_test::env_seen_by_child(bounded().spawn(
                safeexec::SpawnOptions{}.inherit_env(clean).addl_env(opted).env_policy(
                    EnvPolicy::deny_dangerous().allow("PYTHON_SAFEEXEC_T")))),
            expected_env([](const std::string& k) { return !EnvPolicy::is_dangerous(k); }, opted));
}

TEST_F(EnvInheritTest, PolicyStillRefusesAdditionsWhateverIsInherited) {
  for (const EnvInherit& inherit : {EnvInherit::none(), EnvInherit::only({"PATH"})}) {
    safeexec::testing::clear_faults();
    EXPECT_THROW((void)safeexec::execute(
                     child_cmd({"env"}),
                     bounded().spawn(safeexec::SpawnOptions{}.inherit_env(inherit).addl_env(
                         {{"LD_PRELOAD", "/nonexistent/evil.so"}}))),
                 safeexec::InvalidArgument);
    EXPECT_THROW(safeexec::create_process(
                     child_cmd({"env"}),
                     safeexec::SpawnOptions{}.inherit_env(inherit).addl_env({{"BAD-KEY", "v"}})),
                 safeexec::InvalidArgument);
    EXPECT_EQ(call_count(Call::clone), 0U) << "a child was started";
    EXPECT_EQ(call_count(Call::pipe2), 0U) << "a pipe was created";
  }
}

TEST_F(EnvInheritTest, NamesGivenToOnlyAndRemoveAreGrammarChecked) {
  EXPECT_THROW(EnvInherit::only({"PATH", "PATH="}), safeexec::InvalidArgument);
  EXPECT_THROW(EnvInherit::only({""}), safeexec::InvalidArgument);
  EnvInherit i = EnvInherit::all();
  EXPECT_THROW(i.remove({"GITHUB-TOKEN"}), safeexec::InvalidArgument);
  EXPECT_THROW(i.remove({std::string("A\0B", 3)}), safeexec::InvalidArgument);
  EXPECT_TRUE(i.inherits_everything()) << "a refused remove() must change nothing";
}

// The host's environment may hold what setenv() refuses. Such entries never
// reach the child, in every mode (the fast path included), a warning names
// the key without the value, and the rest passes.
TEST_F(EnvInheritTest, InheritedKeysAreGrammarChecked) {
  const std::vector<std::string> host = {
      "SAFEEXEC_T_GOOD=1",         "SAFEEXEC-T-DASH=dash-value-s3cr3t",
      "=empty-key-s3cr3t",         "NO_EQUALS_SIGN_s3cr3t",
      "1DIGIT=digit-value-s3cr3t", "SAFEEXEC T SPACE=v",
      "SAFEEXEC_T_\x1b[31m=ansi",  "SAFEEXEC_T_DUP=first",
      "SAFEEXEC_T_DUP=second",     "LD_PRELOAD_SAFEEXEC_T=x",
  };
  const std::vector<std::string> want_all = {"LD_PRELOAD_SAFEEXEC_T=x", "SAFEEXEC_T_DUP=first",
                                             "SAFEEXEC_T_GOOD=1"};
  for (const bool with_addition : {false, true}) {
    SCOPED_TRACE(with_addition ? "with an addition" : "fast path: inherit all, no additions");
    const EnvMap additions = with_addition ? EnvMap{{"SAFEEXEC_T_ADDED", "a"}} : EnvMap{};
    std::vector<std::string> want = want_all;
    if (with_addition) want.emplace_back("SAFEEXEC_T_ADDED=a");
    std::sort(want.begin(), want.end());

    std::vector<std::string> seen;
    std::vector<std::string> spawned;
    safeexec_test::LogCapture log;
    {
      const ScopedEnviron scoped(host);
      EXPECT_FALSE(safeexec::environ_passes_as_is(EnvInherit::all(), {}));
      seen = safeexec_test::env_seen_by_child(
          bounded().spawn(safeexec::SpawnOptions{}.addl_env(additions)));
      spawned =
          safeexec_test::env_seen_by_spawned_child(safeexec::SpawnOptions{}.addl_env(additions));
    }
    EXPECT_EQ(seen, want);
    // create_process() reads the duplicated key the same way; sort to compare.
    EXPECT_EQ(spawned, want);
    EXPECT_GE(log.count(safeexec::LogLevel::warning, "'SAFEEXEC-T-DASH'"), 2U);
    EXPECT_TRUE(log.any_contains("'1DIGIT'"));
    EXPECT_TRUE(log.any_contains("'SAFEEXEC T SPACE'"));
    EXPECT_TRUE(log.any_contains("'SAFEEXEC_T_\\x1b[31m'")) << "control bytes escaped";
    EXPECT_TRUE(log.any_contains("an entry without '='"));
    EXPECT_TRUE(log.any_contains("an entry with an empty key"));
    EXPECT_FALSE(log.any_contains("s3cr3t")) << "a value (or a '='-less entry) was logged";
    EXPECT_FALSE(log.any_contains("\x1b")) << "a raw control byte reached the log";
  }
  // only() and remove() see the same filtered set.
  {
    const safeexec_test::LogCapture log;
    const ScopedEnviron scoped(host);
    EXPECT_EQ(safeexec_test::env_seen_by_child(bounded().spawn(safeexec::SpawnOptions{}.inherit_env(
                  EnvInherit::only({"SAFEEXEC_T_GOOD", "SAFEEXEC_T_DUP"})))),
              (std::vector<std::string>{"SAFEEXEC_T_DUP=first", "SAFEEXEC_T_GOOD=1"}));
  }
}

TEST_F(EnvInheritTest, WellFormedHostEnvironmentTakesTheFastPath) {
  EXPECT_TRUE(safeexec::environ_passes_as_is(EnvInherit::all(), {}));
  EXPECT_FALSE(safeexec::environ_passes_as_is(EnvInherit::all(), {{"A", "1"}}));
  EXPECT_FALSE(safeexec::environ_passes_as_is(EnvInherit::none(), {}));
  EXPECT_FALSE(safeexec::environ_passes_as_is(EnvInherit::all().remove({"HOME"}), {}));
  EXPECT_FALSE(safeexec::environ_passes_as_is(EnvInherit::all().remove_dangerous(), {}));
}

// The names issue 12 item 17 lists, and the research behind the extension
// (sources are cited next to the list in env.cpp): all refused by default,
// each accepted when opted into by name.
TEST_F(EnvInheritTest, DenylistCoversCodeLoadingAndTrustNames) {
  const std::vector<std::string> names = {"JDK_JAVA_OPTIONS",
                                          "JAVA_TOOL_OPTIONS",
                                          "_JAVA_OPTIONS",
                                          "CLASSPATH",
                                          "OPENSSL_CONF",
                                          "OPENSSL_ENGINES",
                                          "OPENSSL_MODULES",
                                          "SSL_CERT_FILE",
                                          "SSL_CERT_DIR",
                                          "SSLKEYLOGFILE",
                                          "CURL_CA_BUNDLE",
                                          "REQUESTS_CA_BUNDLE",
                                          "GIT_SSH_COMMAND",
                                          "GIT_SSH",
                                          "GIT_EXEC_PATH",
                                          "GIT_ASKPASS",
                                          "SSH_ASKPASS",
                                          "GIT_PROXY_COMMAND",
                                          "GIT_CONFIG_GLOBAL",
                                          "GIT_CONFIG_COUNT",
                                          "GIT_CONFIG_KEY_0",
                                          "GIT_TEMPLATE_DIR",
                                          "GIT_SSL_NO_VERIFY",
                                          "NODE_EXTRA_CA_CERTS",
                                          "NODE_TLS_REJECT_UNAUTHORIZED",
                                          "PYTHONBREAKPOINT",
                                          "PERL5DB",
                                          "PERLIO_DEBUG",
                                          "GLOBIGNORE",
                                          "FPATH",
                                          "ZDOTDIR",
                                          "NULLCMD",
                                          "TERMINFO",
                                          "KRB5_CONFIG",
                                          "LESSOPEN",
                                          "RUSTC_WRAPPER",
                                          "GOFLAGS",
                                          "GOTOOLCHAIN",
                                          "GONOSUMDB",
                                          "_RLD_LIST",
                                          "PATH_LOCALE",
                                          "LD_DEBUG_OUTPUT",
                                          "MALLOC_TRACE"};
  for (const std::string& name : names) {
    SCOPED_TRACE(name);
    EXPECT_TRUE(EnvPolicy::is_dangerous(name));
    EXPECT_THROW(safeexec::validate_env_additions({{name, "x"}}, EnvPolicy::deny_dangerous()),
                 safeexec::InvalidArgument);
    EXPECT_NO_THROW(
        safeexec::validate_env_additions({{name, "x"}}, EnvPolicy::deny_dangerous().allow(name)));
  }
  // Documented decision: PATH needs no opt-in (env.hpp says why); nor do
  // ordinary names that merely share a first letter with a listed one.
  for (const std::string name :
       {"PATH", "HOME", "LANG", "TZ", "EDITOR", "GOPATH", "GIT_AUTHOR_NAME", "SSL_VERSION",
        "CLASSPATH_X", "NODE_ENV", "TERM", "JAVA_HOME"}) {
    EXPECT_FALSE(EnvPolicy::is_dangerous(name)) << name;
  }
}

// Property-style: random parent variables and random only()/remove() sets;
// the child sees exactly the model's answer. Seeded, so a failure repeats.
TEST_F(EnvInheritTest, RandomModesMatchTheModel) {
  std::mt19937 rng(20261130U);
  std::vector<std::string> names;
  for (int i = 0; i < 8; ++i) names.push_back("SAFEEXEC_TP_" + std::to_string(i));
  for (int round = 0; round < 12; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    std::vector<std::unique_ptr<ScopedSetenv>> set;
    safeexec::EnvNames listed;
    safeexec::EnvNames removed;
    for (const std::string& n : names) {
      if (rng() % 2 == 0) set.push_back(std::make_unique<ScopedSetenv>(n.c_str(), "v"));
      if (rng() % 2 == 0) listed.insert(n);
      if (rng() % 4 == 0) removed.insert(n);
    }
    const auto mode = rng() % 3;
    EnvInherit inherit = mode == 0   ? EnvInherit::all()
                         : mode == 1 ? EnvInherit::none()
                                     : EnvInherit::only(listed);
    inherit.remove(removed);
    const auto model = [&](const std::string& k) {
      if (removed.count(k) != 0) return false;
      if (mode == 0) return true;
      if (mode == 1) return false;
      return listed.count(k) != 0;
    };
    EXPECT_EQ(safeexec_test::env_seen_by_child(
                  bounded().spawn(safeexec::SpawnOptions{}.inherit_env(inherit))),
              expected_env(model));
  }
}

// The pure function against a reference, on many random environ arrays
// (malformed keys, no '=', duplicates): cheap, so many rounds.
TEST_F(EnvInheritTest, InheritedEnvironmentMatchesTheReference) {
  std::mt19937 rng(7U);
  const std::string alphabet = "AB_1=- \x01\xff";
  for (int round = 0; round < 2000; ++round) {
    std::vector<std::string> entries;
    const std::size_t n = rng() % 6;
    for (std::size_t i = 0; i < n; ++i) {
      std::string e;
      const std::size_t len = rng() % 6;
      for (std::size_t j = 0; j < len; ++j) e.push_back(alphabet[rng() % alphabet.size()]);
      entries.push_back(e);
    }
    std::vector<const char*> ptrs;
    for (const std::string& e : entries) ptrs.push_back(e.c_str());
    ptrs.push_back(nullptr);
    safeexec::EnvNames removed;
    if (rng() % 2 == 0) removed.insert("A");
    EnvInherit inherit = EnvInherit::all();
    inherit.remove(removed);

    EnvMap want;
    std::size_t malformed = 0;
    for (const std::string& e : entries) {
      const std::size_t eq = e.find('=');
      const std::string key = eq == std::string::npos ? e : e.substr(0, eq);
      bool ok = eq != std::string::npos && !key.empty() && !(key[0] >= '0' && key[0] <= '9');
      for (char c : key) ok = ok && (c == 'A' || c == 'B' || c == '_' || c == '1');
      if (!ok) {
        ++malformed;
        continue;
      }
      if (removed.count(key) == 0) want.emplace(key, e.substr(eq + 1));
    }
    std::vector<std::string> dropped;
    ASSERT_EQ(safeexec::inherited_environment(ptrs.data(), inherit, &dropped), want)
        << "round " << round;
    ASSERT_EQ(dropped.size(), malformed) << "round " << round;
  }
  EXPECT_TRUE(safeexec::inherited_environment(nullptr, EnvInherit::all()).empty());
}

}  // namespace
