// SpawnOptions::argv0() (issue 21 part 3, R08): the argv[0] the child sees
// is the caller's, while the program run is still the one argv[0] of the
// argv vector names (found through PATH when it holds no '/'). The helper's
// `argv0` mode writes its argv[0] and the binary /proc/self/exe names.
#include <filesystem>
#include <string>
#include <vector>

#include "leak_check.hpp"
#include "test_child.hpp"

namespace {

using safeexec_test::bounded;
using safeexec_test::child_cmd;
using safeexec_test::child_path;
using Argv0 = safeexec_test::LeakChecked;

/// {argv[0] as the child saw it, the binary it runs}.
std::vector<std::string> seen(std::vector<std::string> argv, const safeexec::SpawnOptions& spawn) {
  std::string out = safeexec::execute(std::move(argv), bounded().spawn(spawn)).out;
  const std::size_t nul = out.find('\0');
  if (nul == std::string::npos) return {out};
  return {out.substr(0, nul), out.substr(nul + 1)};
}

std::string real_child() {
  return std::filesystem::canonical(child_path()).string();
}

TEST_F(Argv0, TheChildSeesArgv0AndRunsTheProgram) {
  EXPECT_EQ(seen(child_cmd({"argv0"}), safeexec::SpawnOptions{}.argv0("custom name -x")),
            (std::vector<std::string>{"custom name -x", real_child()}));
  // Without it, argv[0] is the program as given.
  EXPECT_EQ(seen(child_cmd({"argv0"}), safeexec::SpawnOptions{}),
            (std::vector<std::string>{child_path(), real_child()}));
  // Empty is a valid argv[0] (login shells and busybox read it; CPython allows it).
  EXPECT_EQ(seen(child_cmd({"argv0"}), safeexec::SpawnOptions{}.argv0("")),
            (std::vector<std::string>{"", real_child()}));
}

TEST_F(Argv0, PathSearchLooksForTheProgramNotForArgv0) {
  const std::filesystem::path helper(child_path());
  const std::string dir = helper.parent_path().string();
  const safeexec::SpawnOptions spawn = safeexec::SpawnOptions{}
                                           .addl_env({{"PATH", dir + ":/usr/bin:/bin"}})
                                           .argv0("/nonexistent/elsewhere");
  EXPECT_EQ(seen({helper.filename().string(), "argv0"}, spawn),
            (std::vector<std::string>{"/nonexistent/elsewhere", real_child()}));
}

TEST_F(Argv0, ANulByteIsRefusedBeforeAnythingStarts) {
  try {
    (void)safeexec::create_process(
        child_cmd({"argv0"}), safeexec::SpawnOptions{}.stdout_pipe().argv0(std::string("a\0b", 3)));
    ADD_FAILURE() << "accepted";
  } catch (const safeexec::InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("argv0 holds a NUL byte"), std::string::npos) << e.what();
  }
}

}  // namespace
