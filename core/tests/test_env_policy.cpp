// F02: a default policy refuses names that change how the child is loaded or
// interpreted, unless the caller opts in by name; an allowlist mode accepts
// only listed names; a refused name never reaches the child.
#include <algorithm>
#include <string>
#include <vector>

#include "leak_check.hpp"
#include "test_child.hpp"

namespace {

using safeexec::EnvPolicy;
using safeexec::testing::Call;
using safeexec::testing::call_count;
using safeexec_test::bounded;
using safeexec_test::child_cmd;
using EnvPolicyTest = safeexec_test::LeakChecked;

// The names the finding lists, and a few of the prefix families.
const std::vector<std::string>& injection_names() {
  static const std::vector<std::string> names = {
      "LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT",       "GCONV_PATH",  "BASH_ENV",
      "ENV",        "PYTHONPATH",      "GLIBC_TUNABLES", "LD_BIND_NOW", "PYTHONSTARTUP",
      "PERL5OPT",   "NODE_OPTIONS",    "MALLOC_CHECK_",  "IFS",         "DYLD_INSERT_LIBRARIES"};
  return names;
}

// Spawning with `additions` under `policy` must be refused with nothing
// started; returns the message.
std::string refused(const safeexec::EnvMap& additions, const EnvPolicy& policy) {
  safeexec::testing::clear_faults();
  std::string message;
  try {
    safeexec::Process p = safeexec::create_process(
        child_cmd({"env"}),
        safeexec::SpawnOptions{}.all_pipes().addl_env(additions).env_policy(policy));
    ADD_FAILURE() << "create_process accepted the additions";
  } catch (const safeexec::InvalidArgument& e) {
    message = e.what();
  }
  EXPECT_EQ(call_count(Call::clone), 0U) << "a child was started";
  EXPECT_EQ(call_count(Call::pipe2), 0U) << "a pipe was created";

  safeexec::testing::clear_faults();
  EXPECT_THROW(
      (void)safeexec::execute(
          child_cmd({"env"}),
          bounded().spawn(safeexec::SpawnOptions{}.addl_env(additions).env_policy(policy))),
      safeexec::InvalidArgument);
  EXPECT_EQ(call_count(Call::clone), 0U) << "execute started a child";
  return message;
}

// The parent's environment plus `additions`, sorted, as the child must see it.
std::vector<std::string> parent_plus(const safeexec::EnvMap& additions) {
  std::vector<std::string> expected;
  for (const std::string& entry : safeexec_test::parent_environment()) {
    const std::string key = entry.substr(0, entry.find('='));
    if (additions.count(key) == 0) expected.push_back(entry);
  }
  for (const auto& [k, v] : additions) expected.push_back(k + "=" + v);
  std::sort(expected.begin(), expected.end());
  return expected;
}

TEST_F(EnvPolicyTest, DefaultPolicyRefusesLoaderAndInterpreterNames) {
  const EnvPolicy policy = EnvPolicy::deny_dangerous();
  EXPECT_FALSE(policy.is_allowlist());
  for (const std::string& name : injection_names()) {
    SCOPED_TRACE(name);
    EXPECT_TRUE(EnvPolicy::is_dangerous(name));
    EXPECT_FALSE(policy.permits(name));
    EXPECT_THROW(safeexec::validate_env_additions({{name, "/tmp/x"}}, policy),
                 safeexec::InvalidArgument);
    const std::string message = refused({{name, "/tmp/evil-value.so"}}, policy);
    // The key as describe_argv quotes an argument (a plain name stays bare).
    EXPECT_NE(message.find("key " + safeexec::describe_argv({name}) + " is refused"),
              std::string::npos)
        << message;
    EXPECT_NE(message.find("refused"), std::string::npos) << message;
    EXPECT_EQ(message.find("evil-value"), std::string::npos) << message;
  }
}

TEST_F(EnvPolicyTest, DefaultIsTheDenyPolicy) {
  // SpawnOptions and ExecuteOptions start with the deny policy: no policy given.
  safeexec::testing::clear_faults();
  EXPECT_THROW(safeexec::create_process(child_cmd({"env"}),
                                        safeexec::SpawnOptions{}.addl_env({{"LD_PRELOAD", "x"}})),
               safeexec::InvalidArgument);
  EXPECT_THROW((void)safeexec::execute(
                   child_cmd({"env"}),
                   bounded().spawn(safeexec::SpawnOptions{}.addl_env({{"LD_AUDIT", "x"}}))),
               safeexec::InvalidArgument);
  EXPECT_EQ(call_count(Call::clone), 0U);
}

TEST_F(EnvPolicyTest, OrdinaryNamesPass) {
  const EnvPolicy policy = EnvPolicy::deny_dangerous();
  // LDAP_URI merely starts with "LD"; ENVIRONMENT is not ENV.
  for (const std::string name :
       {"PATH", "HOME", "LANG", "MY_APP_MODE", "LDAP_URI", "ENVIRONMENT"}) {
    EXPECT_FALSE(EnvPolicy::is_dangerous(name)) << name;
    EXPECT_TRUE(policy.permits(name)) << name;
  }
}

TEST_F(EnvPolicyTest, AllowOptsInOneNameOnly) {
  EnvPolicy policy = EnvPolicy::deny_dangerous();
  policy.allow("LD_LIBRARY_PATH");
  EXPECT_TRUE(policy.permits("LD_LIBRARY_PATH"));
  EXPECT_FALSE(policy.permits("LD_PRELOAD"));
  EXPECT_FALSE(policy.permits("LD_AUDIT"));
  EXPECT_TRUE(policy.permits("SOMETHING_ELSE"));

  // The opted-in name reaches the child, with its value.
  const safeexec::EnvMap ok = {{"LD_LIBRARY_PATH", "/nonexistent/safeexec-lib"}};
  EXPECT_EQ(safeexec_test::env_seen_by_child(
                bounded().spawn(safeexec::SpawnOptions{}.addl_env(ok).env_policy(policy))),
            parent_plus(ok));

  // LD_PRELOAD is still refused under the same policy, and nothing starts.
  const std::string message =
      refused({{"LD_LIBRARY_PATH", "/x"}, {"LD_PRELOAD", "/nonexistent/evil.so"}}, policy);
  EXPECT_NE(message.find("key LD_PRELOAD is refused"), std::string::npos) << message;
}

TEST_F(EnvPolicyTest, AllowRefusesMalformedNames) {
  EnvPolicy policy = EnvPolicy::deny_dangerous();
  EXPECT_THROW(policy.allow("LD_PRELOAD=x"), safeexec::InvalidArgument);
  EXPECT_THROW(policy.allow(""), safeexec::InvalidArgument);
  EXPECT_THROW(EnvPolicy::allow_only({"GOOD", "BAD NAME"}), safeexec::InvalidArgument);
}

TEST_F(EnvPolicyTest, AllowOnlyAcceptsOnlyListedNames) {
  const EnvPolicy policy = EnvPolicy::allow_only({"SAFEEXEC_T_A", "LD_LIBRARY_PATH"});
  EXPECT_TRUE(policy.is_allowlist());
  EXPECT_TRUE(policy.permits("SAFEEXEC_T_A"));
  EXPECT_TRUE(policy.permits("LD_LIBRARY_PATH"));  // listing a name is opting in
  EXPECT_FALSE(policy.permits("SAFEEXEC_T_B"));    // harmless but not listed
  EXPECT_FALSE(policy.permits("PATH"));
  EXPECT_FALSE(policy.permits("LD_PRELOAD"));

  const safeexec::EnvMap ok = {{"SAFEEXEC_T_A", "1"}};
  EXPECT_EQ(safeexec_test::env_seen_by_spawned_child(
                safeexec::SpawnOptions{}.addl_env(ok).env_policy(policy)),
            parent_plus(ok));

  const std::string message = refused({{"SAFEEXEC_T_A", "1"}, {"SAFEEXEC_T_B", "2"}}, policy);
  EXPECT_NE(message.find("key SAFEEXEC_T_B is refused"), std::string::npos) << message;
  EXPECT_NE(message.find("allowlist"), std::string::npos) << message;
}

TEST_F(EnvPolicyTest, RefusedNameNeverReachesTheChild) {
  // Mixed with an accepted name: the whole call is refused, nothing starts.
  (void)refused({{"SAFEEXEC_T_OK", "1"}, {"LD_PRELOAD", "/nonexistent/evil.so"}},
                EnvPolicy::deny_dangerous());
  (void)refused({{"GCONV_PATH", "/tmp"}, {"SAFEEXEC_T_OK", "1"}}, EnvPolicy::deny_dangerous());
  // The accepted name alone goes through, and the child sees exactly it added.
  const safeexec::EnvMap ok = {{"SAFEEXEC_T_OK", "1"}};
  const std::vector<std::string> seen =
      safeexec_test::env_seen_by_child(bounded().spawn(safeexec::SpawnOptions{}.addl_env(ok)));
  EXPECT_EQ(seen, parent_plus(ok));
}

}  // namespace
