// The Windows backend's stdio routes (issue 21 part 1, stdio.hpp): files by
// path (truncate, append), NUL, a borrowed handle (duplicated, never closed),
// stderr to_stdout() on one handle, and the plans refused before anything
// starts. LeakChecked: no handle and no child left behind on any path.
#include <windows.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "win_test_util.hpp"

namespace {

using namespace std::chrono_literals;
using safeexec::ExecuteOptions;
using safeexec::FileWrite;
using safeexec::SpawnOptions;
using safeexec::StdioRoute;
using safeexec_test::child_cmd;
using safeexec_test::TempDir;
using WinRouting = safeexec_test::LeakChecked;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_file(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary);
  out << content;
}

std::string interleaved(int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += "o" + std::to_string(i) + "\ne" + std::to_string(i) + "\n";
  return s;
}

ExecuteOptions bounded() {
  return ExecuteOptions{}.timeout(60s);
}

TEST_F(WinRouting, StdoutToFileTruncatesThenAppends) {
  TempDir dir;
  const std::string out = dir.str() + "\\out";
  write_file(out, "old content that must go away\n");
  (void)safeexec::execute(
      child_cmd({"echo"}),
      bounded().process_input("one\n").spawn(SpawnOptions{}.stdout_to(StdioRoute::file(out))));
  EXPECT_EQ(read_file(out), "one\n");
  (void)safeexec::execute(child_cmd({"echo"}),
                          bounded().process_input("two\n").spawn(
                              SpawnOptions{}.stdout_to(StdioRoute::file(out, FileWrite::append))));
  EXPECT_EQ(read_file(out), "one\ntwo\n");
}

TEST_F(WinRouting, StdinFromFileAndStderrToNull) {
  TempDir dir;
  const std::string in = dir.str() + "\\in";
  write_file(in, "from a file\n");
  const auto r = safeexec::execute(
      child_cmd({"echo"}),
      bounded().spawn(
          SpawnOptions{}.stdin_from(StdioRoute::file(in)).stderr_to(StdioRoute::null())));
  EXPECT_EQ(r.out, "from a file\n");
}

TEST_F(WinRouting, MergedStderrKeepsTheOrderTheChildWrote) {
  const auto r =
      safeexec::execute(child_cmd({"interleave", "300"}),
                        bounded().spawn(SpawnOptions{}.stderr_to(StdioRoute::to_stdout())));
  EXPECT_EQ(r.out, interleaved(300));
  EXPECT_EQ(r.err, "");
}

TEST_F(WinRouting, BorrowedHandleIsUsedAndStaysOpen) {
  TempDir dir;
  const std::string out = dir.str() + "\\out";
  HANDLE h = ::CreateFileW(std::filesystem::path(out).wstring().c_str(), GENERIC_WRITE, 0, nullptr,
                           CREATE_ALWAYS, FILE_ATTRIBUTE_NORMAL, nullptr);
  ASSERT_NE(h, INVALID_HANDLE_VALUE);
  (void)safeexec::execute(
      child_cmd({"echo"}),
      bounded().process_input("lent\n").spawn(SpawnOptions{}.stdout_to(StdioRoute::borrow(h))));
  // Still the caller's handle to the same file (a closed value may have been
  // reused for something else by now): writing through it goes on after the
  // child's bytes.
  DWORD flags = 0;
  EXPECT_TRUE(::GetHandleInformation(h, &flags)) << "the caller's handle was closed";
  EXPECT_EQ(flags & HANDLE_FLAG_INHERIT, 0U) << "the caller's handle was made inheritable";
  DWORD wrote = 0;
  EXPECT_TRUE(::WriteFile(h, "more\n", 5, &wrote, nullptr) && wrote == 5)
      << "the caller's handle no longer writes to its file";
  ::CloseHandle(h);
  EXPECT_EQ(read_file(out), "lent\nmore\n");
}

TEST_F(WinRouting, RefusedPlansStartNothing) {
  EXPECT_THROW((void)safeexec::create_process(child_cmd({"exit", "0"}),
                                              SpawnOptions{}.stderr_to(StdioRoute::to_stdout())),
               safeexec::InvalidArgument);
  EXPECT_THROW((void)safeexec::create_process(
                   child_cmd({"exit", "0"}),
                   SpawnOptions{}.stdout_to(StdioRoute::borrow(reinterpret_cast<HANDLE>(0x7ff0)))),
               safeexec::InvalidArgument);
  TempDir dir;
  const std::string f = dir.str() + "\\data";
  write_file(f, "precious\n");
  EXPECT_THROW(
      (void)safeexec::execute(
          child_cmd({"echo"}),
          bounded().spawn(
              SpawnOptions{}.stdin_from(StdioRoute::file(f)).stdout_to(StdioRoute::file(f)))),
      safeexec::InvalidArgument);
  EXPECT_EQ(read_file(f), "precious\n");
  try {
    (void)safeexec::execute(child_cmd({"exit", "0"}),
                            bounded().spawn(SpawnOptions{}.stdout_to(
                                StdioRoute::file(dir.str() + "\\no\\such\\dir\\out"))));
    ADD_FAILURE() << "no error for a file that cannot be created";
  } catch (const safeexec::SpawnError& e) {
    EXPECT_EQ(e.stage(), safeexec::SpawnStage::redirect);
    EXPECT_NE(std::string(e.what()).find("stdout"), std::string::npos) << e.what();
  }
}

}  // namespace
