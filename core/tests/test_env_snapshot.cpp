// Issue 18 items 6 and 7: the environment a spawn works on.
//
// Item 6 (H23): a key twice in the parent's environ reaches the child once,
// the first copy, on every path (the fast path, an unrelated addition, an
// unrelated remove()), and PATH is looked up in the value the child sees.
// Item 7 (H24): a spawn reads environ once (a snapshot it then works on), so
// a host thread calling setenv() concurrently cannot pull the arrays out from
// under the later passes.
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "leak_check.hpp"
#include "support/scoped_environ.hpp"
#include "test_child.hpp"

namespace {

using safeexec::EnvInherit;
using safeexec::EnvMap;
using safeexec::testing::Call;
using safeexec::testing::call_count;
using safeexec_test::bounded;
using safeexec_test::child_cmd;
using EnvSnapshot = safeexec_test::LeakChecked;
using safeexec_test_support::ScopedEnviron;

// The child's entries whose key is `key` (the helper reports the block it
// was exec'd with, from /proc/self/environ, duplicates included).
std::vector<std::string> entries_of(const std::vector<std::string>& env, const std::string& key) {
  std::vector<std::string> out;
  for (const std::string& e : env) {
    if (e.compare(0, key.size() + 1, key + "=") == 0) out.push_back(e);
  }
  return out;
}

std::string dir_of(const std::string& path) {
  return path.substr(0, path.rfind('/'));
}

TEST_F(EnvSnapshot, DuplicateKeyReachesTheChildOnceTheFirstOnEveryPath) {
  const std::vector<std::string> host = {"SAFEEXEC_T_DUP=first", "SAFEEXEC_T_OTHER=o",
                                         "SAFEEXEC_T_DUP=second", "PATH=/usr/bin:/bin"};
  struct Path {
    const char* name;
    EnvInherit inherit;
    EnvMap additions;
  };
  const std::vector<Path> paths = {
      {"fast path (inherit all, no additions)", EnvInherit::all(), {}},
      {"an unrelated addition", EnvInherit::all(), {{"SAFEEXEC_T_ADDED", "a"}}},
      {"an unrelated remove()", EnvInherit::all().remove({"SAFEEXEC_T_UNRELATED"}), {}},
      {"only() naming it", EnvInherit::only({"SAFEEXEC_T_DUP"}), {}},
  };
  for (const Path& p : paths) {
    SCOPED_TRACE(p.name);
    std::vector<std::string> seen;
    std::vector<std::string> spawned;
    {
      const ScopedEnviron scoped(host);
      seen = safeexec_test::env_seen_by_child(
          bounded().spawn(safeexec::SpawnOptions{}.inherit_env(p.inherit).addl_env(p.additions)));
      spawned = safeexec_test::env_seen_by_spawned_child(
          safeexec::SpawnOptions{}.inherit_env(p.inherit).addl_env(p.additions));
    }
    EXPECT_EQ(entries_of(seen, "SAFEEXEC_T_DUP"), std::vector<std::string>{"SAFEEXEC_T_DUP=first"})
        << "execute()";
    EXPECT_EQ(entries_of(spawned, "SAFEEXEC_T_DUP"),
              std::vector<std::string>{"SAFEEXEC_T_DUP=first"})
        << "create_process()";
  }
}

TEST_F(EnvSnapshot, PathIsLookedUpInTheValueTheChildSees) {
  // The helper by name: found through the first PATH only (the second names
  // a directory that does not exist), and the child sees that PATH alone.
  const std::string child = safeexec_test::child_path();
  const std::string name = child.substr(child.rfind('/') + 1);
  const std::string first = "PATH=" + dir_of(child);
  {
    std::vector<std::string> seen;
    {
      const ScopedEnviron scoped({first, "PATH=/nonexistent-safeexec-t"});
      seen = safeexec_test::split_nul(safeexec::execute({name, "env"}, bounded()).out);
    }
    EXPECT_EQ(entries_of(seen, "PATH"), std::vector<std::string>{first});
  }
  {
    // The other order: the first PATH finds nothing, and the child would
    // not have found the program either.
    const ScopedEnviron scoped({"PATH=/nonexistent-safeexec-t", first});
    EXPECT_THROW((void)safeexec::execute({name, "env"}, bounded()), safeexec::SpawnError);
  }
}

TEST_F(EnvSnapshot, WellFormedDuplicateKeyDoesNotTakeTheFastPath) {
  const ScopedEnviron scoped({"SAFEEXEC_T_DUP=first", "SAFEEXEC_T_DUP=second"});
  EXPECT_FALSE(safeexec::environ_passes_as_is(EnvInherit::all(), {}));
}

#if defined(SAFEEXEC_FAULT_INJECTION) && SAFEEXEC_FAULT_INJECTION
// Exact: every read of environ goes through one counted accessor (the
// forbidden-calls lint refuses `environ` anywhere else in the core).
TEST_F(EnvSnapshot, EachSpawnReadsEnvironOnce) {
  struct Case {
    const char* name;
    safeexec::SpawnOptions options;
  };
  const std::vector<Case> cases = {
      {"fast path", safeexec::SpawnOptions{}},
      {"an addition", safeexec::SpawnOptions{}.addl_env({{"SAFEEXEC_T_ADDED", "a"}})},
      {"remove()", safeexec::SpawnOptions{}.inherit_env(EnvInherit::all().remove({"HOME"}))},
      {"none() (PATH still read)", safeexec::SpawnOptions{}.inherit_env(EnvInherit::none())},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    safeexec::testing::clear_faults();
    safeexec::Process p = safeexec::create_process(child_cmd({"exit", "0"}), c.options);
    EXPECT_EQ(call_count(Call::environ_read), 1U);
    EXPECT_TRUE(p.wait().success());
  }
  safeexec::testing::clear_faults();
  (void)safeexec::execute(child_cmd({"exit", "0"}), bounded());
  EXPECT_EQ(call_count(Call::environ_read), 1U) << "execute()";
}
#endif

}  // namespace
