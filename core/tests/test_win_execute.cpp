// execute() on Windows: input of any size byte-exact and no deadlock on full
// pipes (F09, F14), a child that never reads stdin is no error, timeouts and
// output limits kill the whole job within timeout + grace (F14), exit codes
// are checked (F04/F13: the input is never in the message), and the
// environment follows Windows' rules (case-insensitive names, sorted
// block, SYSTEMROOT kept, Windows' injection names refused: F01/F02).
#include <windows.h>

#include <chrono>
#include <string>

#include "env_block.hpp"
#include "win_test_util.hpp"

namespace {

using namespace std::chrono_literals;
using safeexec::execute;
using safeexec::ExecuteOptions;
using safeexec_test::child_cmd;
using safeexec_test::split_nul;
using WinExecute = safeexec_test::LeakChecked;

TEST_F(WinExecute, LargeInputComesBackByteExact) {
  std::string input(3 * 1024 * 1024 + 7, '\0');
  for (std::size_t i = 0; i < input.size(); ++i) input[i] = static_cast<char>((i * 131) % 256);
  const auto r = execute(child_cmd({"echo"}), ExecuteOptions{}.process_input(input).timeout(120s));
  EXPECT_EQ(r.out.size(), input.size());
  EXPECT_TRUE(r.out == input);
}

TEST_F(WinExecute, ChildThatNeverReadsStdinIsNotAnError) {
  const auto r = execute(child_cmd({"ignore-stdin"}),
                         ExecuteOptions{}.process_input(std::string(1 << 20, 'x')).timeout(60s));
  EXPECT_EQ(r.exit_code(), 0);
}

// Issue 18 item 9 (shared code, process_common.cpp): input that cannot reach
// the child is refused, not dropped - a stdin that is not a pipe, or a second
// communicate() after the first delivered its input.
TEST_F(WinExecute, CommunicateRefusesInputItCannotDeliver) {
  using safeexec::SpawnOptions;
  using safeexec::Stdio;
  auto null_in = safeexec::create_process(child_cmd({"exit", "0"}),
                                          SpawnOptions{}.stdin_mode(Stdio::null).stdout_pipe());
  EXPECT_THROW((void)null_in.communicate("hello\n", safeexec::deadline_after(60s)),
               safeexec::InvalidArgument);
  EXPECT_EQ(null_in.communicate({}, safeexec::deadline_after(60s)).out, "");
  EXPECT_TRUE(null_in.wait().success());

  auto echo =
      safeexec::create_process(child_cmd({"echo"}), SpawnOptions{}.stdin_pipe().stdout_pipe());
  EXPECT_EQ(echo.communicate("one", safeexec::deadline_after(60s)).out, "one");
  EXPECT_THROW((void)echo.communicate("two", safeexec::deadline_after(60s)),
               safeexec::InvalidArgument);
  EXPECT_TRUE(echo.wait().success());
}

TEST_F(WinExecute, BothStreamsFullAtOnceDoNotDeadlock) {
  const auto r = execute(child_cmd({"spew", "1000000", "1000000"}), ExecuteOptions{}.timeout(60s));
  EXPECT_EQ(r.out.size(), 1000000u);
  EXPECT_EQ(r.err.size(), 1000000u);
}

TEST_F(WinExecute, TimeoutKillsTheTreeWithinTimeoutPlusGrace) {
  const auto start = std::chrono::steady_clock::now();
  EXPECT_THROW((void)execute(child_cmd({"grandchild", "60000"}),
                             ExecuteOptions{}.timeout(1000ms).kill_grace(200ms)),
               safeexec::TimeoutError);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 15s);  // Wine on a loaded machine
}

TEST_F(WinExecute, OutputLimitKills) {
  try {
    (void)execute(child_cmd({"spew", "100000", "0"}),
                  ExecuteOptions{}.max_output_bytes(1000).timeout(60s));
    FAIL() << "no error";
  } catch (const safeexec::OutputLimitError& e) {
    EXPECT_EQ(e.stream(), "stdout");
  }
}

TEST_F(WinExecute, ExitCodesAreCheckedAndTheInputStaysSecret) {
  try {
    (void)execute(child_cmd({"exit", "3"}), ExecuteOptions{}.process_input("hunter2").timeout(60s));
    FAIL() << "no error";
  } catch (const safeexec::ProcessExecutionError& e) {
    EXPECT_EQ(e.exit_code(), 3);
    EXPECT_EQ(std::string(e.what()).find("hunter2"), std::string::npos);
  }
  EXPECT_EQ(execute(child_cmd({"exit", "3"}), ExecuteOptions{}.extra_ok_codes({3})).exit_code(), 3);
}

std::vector<std::string> child_env(const safeexec::EnvMap& add) {
  return split_nul(
      execute(child_cmd({"env"}),
              ExecuteOptions{}.spawn(safeexec::SpawnOptions{}.addl_env(add)).timeout(60s))
          .out);
}

std::vector<std::string> with_name(const std::vector<std::string>& env, std::string_view name) {
  std::vector<std::string> out;
  for (const auto& e : env) {
    if (e.size() > name.size() && e[name.size()] == '=' &&
        CompareStringOrdinal(std::wstring(e.begin(), e.begin() + name.size()).c_str(),
                             static_cast<int>(name.size()),
                             std::wstring(name.begin(), name.end()).c_str(),
                             static_cast<int>(name.size()), TRUE) == CSTR_EQUAL) {
      out.push_back(e);
    }
  }
  return out;
}

TEST_F(WinExecute, EnvironmentNamesIgnoreCaseAndTheBlockIsSorted) {
  ASSERT_TRUE(SetEnvironmentVariableW(L"SXTEST_CASE", L"parent"));
  const auto env = child_env({{"sxtest_case", "child"}, {"SXTEST_B", "1"}, {"sxtest_a", "2"}});
  SetEnvironmentVariableW(L"SXTEST_CASE", nullptr);
  EXPECT_EQ(with_name(env, "SXTEST_CASE"), (std::vector<std::string>{"sxtest_case=child"}));
  EXPECT_EQ(with_name(env, "SYSTEMROOT").size(), 1u);
  // Sorted ignoring case: sxtest_a, SXTEST_B, sxtest_case. (Wine
  // appends WINE* entries of its own after the block, so only ours are
  // checked here; the block itself is checked below.)
  std::vector<std::string> ours;
  for (const auto& e : env) {
    if (e.rfind("sxtest_", 0) == 0 || e.rfind("SXTEST_", 0) == 0) ours.push_back(e);
  }
  EXPECT_EQ(ours, (std::vector<std::string>{"sxtest_a=2", "SXTEST_B=1", "sxtest_case=child"}));
}

TEST_F(WinExecute, TheBlockIsSortedIgnoringCaseWithSystemRoot) {
  const std::wstring block = safeexec::detail::win::make_environment_block(
      {"b=1", "A=2", "=C:=C:\\x", "Path=p", "SystemRoot=C:\\Windows", "_u=3"},
      {{"PATH", "q"}, {"a_b", "4"}}, safeexec::EnvPolicy::deny_dangerous());
  std::vector<std::wstring> entries;
  for (const wchar_t* p = block.c_str(); *p != L'\0'; p += wcslen(p) + 1) entries.push_back(p);
  EXPECT_EQ(entries, (std::vector<std::wstring>{L"=C:=C:\\x", L"A=2", L"a_b=4", L"b=1", L"PATH=q",
                                                L"SystemRoot=C:\\Windows", L"_u=3"}));
  const std::wstring no_root = safeexec::detail::win::make_environment_block(
      {"X=1"}, {}, safeexec::EnvPolicy::deny_dangerous());
  EXPECT_NE(no_root.find(L"SYSTEMROOT="), std::wstring::npos);
}

TEST_F(WinExecute, WindowsInjectionNamesAreRefusedInAnyCase) {
  for (const char* name : {"COMSPEC", "PathExt", "__COMPAT_LAYER", "pythonpath", "COR_PROFILER",
                           "NODE_OPTIONS", "SystemRoot"}) {
    EXPECT_THROW(
        (void)execute(child_cmd({"exit", "0"}),
                      ExecuteOptions{}.spawn(safeexec::SpawnOptions{}.addl_env({{name, "x"}}))),
        safeexec::InvalidArgument)
        << name;
  }
  EXPECT_THROW((void)execute(child_cmd({"exit", "0"}),
                             ExecuteOptions{}.spawn(
                                 safeexec::SpawnOptions{}.addl_env({{"Ab", "1"}, {"AB", "2"}}))),
               safeexec::InvalidArgument);
  EXPECT_THROW(
      (void)execute(child_cmd({"exit", "0"}),
                    ExecuteOptions{}.spawn(safeexec::SpawnOptions{}.addl_env({{"=C:", "x"}}))),
      safeexec::InvalidArgument);
  EXPECT_NO_THROW(
      (void)execute(child_cmd({"exit", "0"}),
                    ExecuteOptions{}.spawn(
                        safeexec::SpawnOptions{}
                            .addl_env({{"COMSPEC", "x"}})
                            .env_policy(safeexec::EnvPolicy::deny_dangerous().allow("COMSPEC")))));
}

// A grandchild holding the pipes after the child exited 0: execute() reads
// for linger(), keeps what the child wrote, reports output_cut, succeeds,
// and ends the grandchild with the job.
TEST_F(WinExecute, PipesHeldByAGrandchildAreCutAfterLinger) {
  const auto start = std::chrono::steady_clock::now();
  const auto r =
      execute(child_cmd({"hold-pipes", "60000"}), ExecuteOptions{}.linger(300ms).timeout(60s));
  EXPECT_EQ(r.exit_code(), 0);
  EXPECT_TRUE(r.output_cut);
  EXPECT_EQ(r.out, "child done\n");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 20s);  // not the grandchild's 60 s
}

TEST_F(WinExecute, OutputIsNotCutWhenThePipesClose) {
  const auto r = execute(child_cmd({"spew", "1000", "10"}), ExecuteOptions{}.timeout(60s));
  EXPECT_FALSE(r.output_cut);
  EXPECT_EQ(r.out.size(), 1000u);
}

// inherit_env() on Windows: names match case-insensitively, as Windows does.
TEST_F(WinExecute, InheritEnvOnlyAndRemoveIgnoreCase) {
  ASSERT_TRUE(SetEnvironmentVariableW(L"SxTest_Keep", L"k"));
  ASSERT_TRUE(SetEnvironmentVariableW(L"SxTest_Drop", L"d"));
  const auto only =
      split_nul(execute(child_cmd({"env"}), ExecuteOptions{}
                                                .spawn(safeexec::SpawnOptions{}.inherit_env(
                                                    safeexec::EnvInherit::only({"SXTEST_KEEP"})))
                                                .timeout(60s))
                    .out);
  const auto removed = split_nul(
      execute(child_cmd({"env"}), ExecuteOptions{}
                                      .spawn(safeexec::SpawnOptions{}.inherit_env(
                                          safeexec::EnvInherit::all().remove({"sxtest_drop"})))
                                      .timeout(60s))
          .out);
  SetEnvironmentVariableW(L"SxTest_Keep", nullptr);
  SetEnvironmentVariableW(L"SxTest_Drop", nullptr);
  EXPECT_EQ(with_name(only, "SXTEST_KEEP"), (std::vector<std::string>{"SxTest_Keep=k"}));
  EXPECT_TRUE(with_name(only, "SXTEST_DROP").empty());
  EXPECT_EQ(with_name(removed, "SXTEST_KEEP"), (std::vector<std::string>{"SxTest_Keep=k"}));
  EXPECT_TRUE(with_name(removed, "SXTEST_DROP").empty());
}

using WinExecuteConcurrent = safeexec_test::ConcurrentLeakChecked;

TEST_F(WinExecuteConcurrent, ConcurrentExecutesEachGetTheirOwnOutput) {
  std::vector<std::future<safeexec::ExecuteResult>> futures;
  for (int i = 0; i < 6; ++i) {
    futures.push_back(safeexec::execute_async(child_cmd({"argv", std::to_string(i)}),
                                              ExecuteOptions{}.timeout(60s)));
  }
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(futures[static_cast<std::size_t>(i)].get().out, std::to_string(i) + '\0');
  }
}

}  // namespace
