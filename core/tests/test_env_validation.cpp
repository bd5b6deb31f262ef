// F01: environment additions are validated before any process starts, and
// the child's environment is exactly the parent's plus the accepted additions.
#include <stdlib.h>

#include <string>
#include <vector>

#include "leak_check.hpp"
#include "test_child.hpp"

namespace {

using safeexec::testing::Call;
using safeexec::testing::call_count;
using safeexec_test::bounded;
using safeexec_test::child_cmd;
using EnvValidation = safeexec_test::LeakChecked;

// Keys outside [A-Za-z_][A-Za-z0-9_]*, each with why it must be refused.
const std::vector<std::pair<std::string, std::string>>& bad_keys() {
  static const std::vector<std::pair<std::string, std::string>> keys = {
      {"", "empty"},
      {"A=B", "'=' would define another variable (A) in the child"},
      {"=", "only '='"},
      {std::string("A\0B", 3), "NUL would cut the key"},
      {"1ABC", "starts with a digit"},
      {"MY-VAR", "'-' is not a name character"},
      {"MY VAR", "space"},
      {"MY$VAR", "'$'"},
      {"MY.VAR", "'.'"},
      {"A\nB", "newline"},
      {"\xc3\xa9T\xc3\xa9", "non-ASCII letters"},
  };
  return keys;
}

bool printable(const std::string& s) {
  for (char c : s) {
    if (c < 0x20 || c >= 0x7f) return false;
  }
  return true;
}

// Starting `additions` must throw InvalidArgument before anything exists:
// no pipe, no clone. Returns the message (for content checks).
std::string refused_message(const safeexec::EnvMap& additions) {
  safeexec::testing::clear_faults();
  std::string message;
  try {
    safeexec::Process p = safeexec::create_process(
        child_cmd({"exit", "0"}), safeexec::SpawnOptions{}.all_pipes().addl_env(additions));
    ADD_FAILURE() << "create_process accepted the additions";
  } catch (const safeexec::InvalidArgument& e) {
    message = e.what();
  }
  EXPECT_EQ(call_count(Call::clone), 0U) << "a child was started";
  EXPECT_EQ(call_count(Call::pipe2), 0U) << "a pipe was created before validation";

  safeexec::testing::clear_faults();
  EXPECT_THROW(
      (void)safeexec::execute(child_cmd({"exit", "0"}),
                              bounded().spawn(safeexec::SpawnOptions{}.addl_env(additions))),
      safeexec::InvalidArgument);
  EXPECT_EQ(call_count(Call::clone), 0U) << "execute started a child";
  EXPECT_EQ(call_count(Call::pipe2), 0U) << "execute created a pipe before validation";
  return message;
}

TEST_F(EnvValidation, MalformedKeysAreRejectedBeforeAnyProcessStarts) {
  for (const auto& [key, why] : bad_keys()) {
    SCOPED_TRACE("key refused because: " + why);
    EXPECT_FALSE(safeexec::is_valid_env_key(key));
    EXPECT_THROW(safeexec::validate_env_key(key), safeexec::InvalidArgument);
    const std::string message = refused_message({{key, "hunter2-value"}});
    EXPECT_NE(message.find("environment key"), std::string::npos) << message;
    // The message names the key (when it can be printed) as describe_argv
    // writes an argument (quoted and escaped) and never the value.
    if (!key.empty() && printable(key)) {
      EXPECT_NE(message.find("key " + safeexec::describe_argv({key}) + " "), std::string::npos)
          << message;
    }
    EXPECT_EQ(message.find("hunter2"), std::string::npos) << message;
  }
}

TEST_F(EnvValidation, MessagesSayWhatIsWrong) {
  EXPECT_NE(refused_message({{"", "v"}}).find("empty"), std::string::npos);
  EXPECT_NE(refused_message({{std::string("A\0B", 3), "v"}}).find("NUL"), std::string::npos);
  EXPECT_NE(refused_message({{"A=B", "v"}}).find("'='"), std::string::npos);
  EXPECT_NE(refused_message({{"1ABC", "v"}}).find("[A-Za-z_][A-Za-z0-9_]*"), std::string::npos);
}

TEST_F(EnvValidation, OneBadKeyAmongGoodOnesRefusesTheWholeCall) {
  const std::string message =
      refused_message({{"GOOD_ONE", "1"}, {"BAD-ONE", "2"}, {"ZZZ_GOOD", "3"}});
  EXPECT_NE(message.find("BAD-ONE"), std::string::npos) << message;
}

TEST_F(EnvValidation, WellFormedKeysAreAccepted) {
  for (const std::string key : {"A", "_", "_A1", "abc_DEF_9", "PATH", "x0"}) {
    EXPECT_TRUE(safeexec::is_valid_env_key(key)) << key;
    EXPECT_NO_THROW(safeexec::validate_env_key(key)) << key;
  }
}

TEST_F(EnvValidation, ValueWithNulIsRejectedAndNeverShown) {
  const std::string value("s3cr3t-value\0tail", 17);
  EXPECT_THROW(safeexec::validate_env_value("SAFEEXEC_T_KEY", value), safeexec::InvalidArgument);
  const std::string message = refused_message({{"SAFEEXEC_T_KEY", value}});
  EXPECT_NE(message.find("key SAFEEXEC_T_KEY holds"), std::string::npos) << message;
  EXPECT_NE(message.find("NUL"), std::string::npos) << message;
  EXPECT_EQ(message.find("s3cr3t"), std::string::npos) << message;
  EXPECT_EQ(message.find("tail"), std::string::npos) << message;
}

TEST_F(EnvValidation, ValuesMayHoldAnyOtherByte) {
  std::string value;
  for (int c = 1; c < 256; ++c) value.push_back(static_cast<char>(c));
  EXPECT_NO_THROW(safeexec::validate_env_value("K", value));
  EXPECT_NO_THROW(safeexec::validate_env_value("K", ""));
}

// Sets a variable in this process for the scope of one test.
class ScopedSetenv {
 public:
  ScopedSetenv(const char* name, const char* value) : name_(name) {
    EXPECT_EQ(::setenv(name, value, 1), 0);
  }
  ScopedSetenv(const ScopedSetenv&) = delete;
  ScopedSetenv& operator=(const ScopedSetenv&) = delete;
  ~ScopedSetenv() { ::unsetenv(name_); }

 private:
  const char* name_;
};

TEST_F(EnvValidation, ChildEnvironmentIsParentPlusAcceptedAdditions) {
  const ScopedSetenv existing("SAFEEXEC_T_OVERRIDE", "from-parent");
  const safeexec::EnvMap additions = {
      {"SAFEEXEC_T_NEW", "a=b; $(reboot) `id` *\n\t\xff"},
      {"SAFEEXEC_T_OVERRIDE", "from-additions"},
      {"SAFEEXEC_T_EMPTY", ""},
  };
  // Expected: environ as it is, with the override replaced, plus the new ones.
  std::vector<std::string> expected;
  for (const std::string& entry : safeexec_test::parent_environment()) {
    if (entry.rfind("SAFEEXEC_T_OVERRIDE=", 0) == 0) continue;
    expected.push_back(entry);
  }
  for (const auto& [k, v] : additions) expected.push_back(k + "=" + v);
  std::sort(expected.begin(), expected.end());

  EXPECT_EQ(safeexec_test::env_seen_by_child(
                bounded().spawn(safeexec::SpawnOptions{}.addl_env(additions))),
            expected);
  EXPECT_EQ(safeexec_test::env_seen_by_spawned_child(safeexec::SpawnOptions{}.addl_env(additions)),
            expected);
  // The parent's own environment is untouched.
  EXPECT_STREQ(::getenv("SAFEEXEC_T_OVERRIDE"), "from-parent");
  EXPECT_EQ(::getenv("SAFEEXEC_T_NEW"), nullptr);
}

TEST_F(EnvValidation, ChildEnvironmentWithoutAdditionsIsTheParents) {
  EXPECT_EQ(safeexec_test::env_seen_by_child(), safeexec_test::parent_environment());
}

TEST_F(EnvValidation, BuildChildEnvironmentMergesAndSorts) {
  const safeexec::EnvMap base = {{"B", "1"}, {"A", "old"}};
  const std::vector<std::string> env = safeexec::build_child_environment(
      base, {{"A", "new"}, {"C", "x=y"}}, safeexec::EnvPolicy::deny_dangerous());
  EXPECT_EQ(env, (std::vector<std::string>{"A=new", "B=1", "C=x=y"}));
  EXPECT_THROW((void)safeexec::build_child_environment(base, {{"A=B", "v"}},
                                                       safeexec::EnvPolicy::deny_dangerous()),
               safeexec::InvalidArgument);
}

}  // namespace
