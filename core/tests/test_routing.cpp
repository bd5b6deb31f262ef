// test_routing.cpp - stdio routes (issue 21 part 1, stdio.hpp): files by
// path, borrowed descriptors, /dev/null and 2>&1 for create_process() and
// execute(); the plans that are refused before anything starts; and a parent
// whose own 0-2 are closed or whose borrowed descriptors sit on 0-2.
//
// Every test derives from LeakChecked: a refused plan leaves no descriptor
// and no child behind, and a borrowed descriptor stays open in the parent.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <fstream>
#include <sstream>
#include <string>

#include "leak_check.hpp"
#include "test_child.hpp"

namespace {

using safeexec::ExecuteOptions;
using safeexec::FileWrite;
using safeexec::SpawnOptions;
using safeexec::StdioRoute;
using safeexec_test::bounded;
using safeexec_test::child_cmd;
using safeexec_test::TempDir;
using Routing = safeexec_test::LeakChecked;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

/// "o0\ne0\no1\ne1\n..." - what `interleave n` writes, in the order written.
std::string interleaved(int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += "o" + std::to_string(i) + "\ne" + std::to_string(i) + "\n";
  return s;
}

/// An owned descriptor for the tests' own files.
struct Fd {
  int fd;
  explicit Fd(int f) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// --- files by path ---------------------------------------------------------

TEST_F(Routing, StdoutToFileTruncatesAndHoldsExactlyTheOutput) {
  TempDir dir;
  const std::string out = dir.write_file("out", "old content that must go away\n");
  const auto r = safeexec::execute(
      child_cmd({"echo"}),
      bounded().process_input("hello\n").spawn(SpawnOptions{}.stdout_to(StdioRoute::file(out))));
  EXPECT_EQ(r.out, "") << "a routed stream is not captured";
  EXPECT_EQ(read_file(out), "hello\n");
}

TEST_F(Routing, StdoutToFileAppends) {
  TempDir dir;
  const std::string out = dir.write_file("out", "first\n");
  (void)safeexec::execute(
      child_cmd({"echo"}),
      bounded()
          .process_input("second\n")
          .spawn(SpawnOptions{}.stdout_to(StdioRoute::file(out, FileWrite::append))));
  EXPECT_EQ(read_file(out), "first\nsecond\n");
}

TEST_F(Routing, FileIsCreatedWithTheGivenMode) {
  TempDir dir;
  const std::string out = dir.path() + "/new";
  const mode_t old_mask = ::umask(0);
  (void)safeexec::execute(
      child_cmd({"spew", "10", "0"}),
      bounded().spawn(SpawnOptions{}.stdout_to(StdioRoute::file(out, FileWrite::truncate, 0640))));
  ::umask(old_mask);
  struct stat st {};
  ASSERT_EQ(::stat(out.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640U);
  EXPECT_EQ(read_file(out), safeexec_test::helper_pattern(10));
}

TEST_F(Routing, StderrToFileAndStdinFromFile) {
  TempDir dir;
  const std::string in = dir.write_file("in", "from a file\n");
  const std::string err = dir.path() + "/err";
  auto p = safeexec::create_process(
      child_cmd({"echo-err"}),
      SpawnOptions{}.stdin_from(StdioRoute::file(in)).stderr_to(StdioRoute::file(err)));
  EXPECT_EQ(p.stdin_fd(), -1);
  EXPECT_EQ(p.stderr_fd(), -1);
  EXPECT_EQ(p.wait(), safeexec::ExitStatus::exited(0));
  EXPECT_EQ(read_file(err), "from a file\n");
}

TEST_F(Routing, OpenFailureIsSpawnErrorNamingStreamAndPathAndStartsNothing) {
  TempDir dir;
  const std::string missing_dir = dir.path() + "/no/such/dir/out";
  try {
    (void)safeexec::execute(
        child_cmd({"exit", "0"}),
        bounded().spawn(SpawnOptions{}.stderr_to(StdioRoute::file(missing_dir))));
    FAIL() << "no error for a file that cannot be created";
  } catch (const safeexec::SpawnError& e) {
    EXPECT_EQ(e.stage(), safeexec::SpawnStage::redirect);
    EXPECT_EQ(e.error_code(), ENOENT);
    const std::string what = e.what();
    EXPECT_NE(what.find("stderr"), std::string::npos) << what;
    EXPECT_NE(what.find(missing_dir), std::string::npos) << what;
  }
  const std::string missing_in = dir.path() + "/absent";
  EXPECT_THROW((void)safeexec::create_process(
                   child_cmd({"echo"}), SpawnOptions{}.stdin_from(StdioRoute::file(missing_in))),
               safeexec::SpawnError);
  EXPECT_FALSE(exists(missing_in)) << "stdin's file must not be created";
}

// --- /dev/null ---------------------------------------------------------------

TEST_F(Routing, OutputToNullIsDiscarded) {
  const auto r = safeexec::execute(
      child_cmd({"spew", "1000", "1000"}),
      bounded().spawn(
          SpawnOptions{}.stdout_to(safeexec::Stdio::null).stderr_to(StdioRoute::null())));
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "");
}

// --- borrowed descriptors ----------------------------------------------------

TEST_F(Routing, BorrowedDescriptorsAreUsedAndStayOpenAndUnchanged) {
  TempDir dir;
  const std::string in = dir.write_file("in", "borrowed input\n");
  Fd in_fd(::open(in.c_str(), O_RDONLY | O_CLOEXEC));
  Fd out_fd(::open((dir.path() + "/out").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
  ASSERT_GE(in_fd.fd, 0);
  ASSERT_GE(out_fd.fd, 0);
  const int in_flags = ::fcntl(in_fd.fd, F_GETFD);
  auto p =
      safeexec::create_process(child_cmd({"echo"}), SpawnOptions{}
                                                        .stdin_from(StdioRoute::borrow(in_fd.fd))
                                                        .stdout_to(StdioRoute::borrow(out_fd.fd)));
  EXPECT_EQ(p.wait(), safeexec::ExitStatus::exited(0));
  EXPECT_EQ(read_file(dir.path() + "/out"), "borrowed input\n");
  // Still open, still close-on-exec, and the offsets moved (one file description).
  EXPECT_EQ(::fcntl(in_fd.fd, F_GETFD), in_flags);
  EXPECT_EQ(::fcntl(out_fd.fd, F_GETFD), FD_CLOEXEC);
  EXPECT_EQ(::lseek(out_fd.fd, 0, SEEK_CUR), 15);
  // And usable again: a second child writes after the first.
  (void)safeexec::execute(child_cmd({"echo"}),
                          bounded().process_input("again\n").spawn(
                              SpawnOptions{}.stdout_to(StdioRoute::borrow(out_fd.fd))));
  EXPECT_EQ(read_file(dir.path() + "/out"), "borrowed input\nagain\n");
}

TEST_F(Routing, BorrowedStreamsMaySwapZeroToTwo) {
  // The caller lends its own fd 2 as the child's stdout and fd 1 as its
  // stderr, through descriptors that sit on 1 and 2 in a forked copy: each
  // dup2 must not overwrite the other's source.
  TempDir dir;
  const std::string o = dir.path() + "/o";
  const std::string e = dir.path() + "/e";
  const int rc = safeexec_test::run_forked([&] {
    const int fo = ::open(o.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    const int fe = ::open(e.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fo < 0 || fe < 0 || ::dup2(fo, 1) < 0 || ::dup2(fe, 2) < 0) return 10;
    try {
      auto p = safeexec::create_process(
          child_cmd({"interleave", "2"}),
          SpawnOptions{}.stdout_to(StdioRoute::borrow(2)).stderr_to(StdioRoute::borrow(1)));
      return p.wait() == safeexec::ExitStatus::exited(0) ? 0 : 11;
    } catch (...) {
      return 12;
    }
  });
  ASSERT_EQ(rc, 0);
  EXPECT_EQ(read_file(e), "o0\no1\n") << "child's stdout goes to the caller's fd 2";
  EXPECT_EQ(read_file(o), "e0\ne1\n") << "child's stderr goes to the caller's fd 1";
}

TEST_F(Routing, CallerWithStdioClosedGetsExactlyThreeDescriptorsInTheChild) {
  // With 0-2 closed the caller's own file lands on 0 and is borrowed as the
  // child's stdout; our pipes must not land on 0-2 (above_stdio) and the
  // child still gets exactly 0, 1, 2.
  TempDir dir;
  const std::string o = dir.path() + "/o";
  const int rc = safeexec_test::run_forked([&] {
    (void)::close(0);
    (void)::close(1);
    (void)::close(2);
    const int fo = ::open(o.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fo != 0) return 10;
    try {
      auto p =
          safeexec::create_process(child_cmd({"fds"}), SpawnOptions{}
                                                           .stdin_pipe()
                                                           .stdout_to(StdioRoute::borrow(fo))
                                                           .stderr_to(StdioRoute::to_stdout()));
      if (p.stdin_fd() < 3) return 13;
      p.close_stdin();
      return p.wait() == safeexec::ExitStatus::exited(0) ? 0 : 11;
    } catch (...) {
      return 12;
    }
  });
  ASSERT_EQ(rc, 0);
  EXPECT_EQ(read_file(o), "0 1 2\n");
}

TEST_F(Routing, InheritedStdDescriptorTheCallerHasClosedIsDevNullInTheChild) {
  // A host running with 0 and 2 closed, stdout captured: what the child
  // inherits on 0 and 2 is /dev/null, not a hole its first open() would fill
  // (its stderr would then be a file it opened). The same on both
  // strategies: the spawn server's own 0-2 are /dev/null.
  TempDir dir;
  const std::string o = dir.path() + "/o";
  const int rc = safeexec_test::run_forked([&] {
    const int fo = ::open(o.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fo < 3) return 10;
    (void)::close(0);
    (void)::close(2);
    try {
      auto p = safeexec::create_process(child_cmd({"fds"}),
                                        SpawnOptions{}.stdout_to(StdioRoute::borrow(fo)));
      if (p.wait() != safeexec::ExitStatus::exited(0)) return 11;
      auto q = safeexec::create_process(child_cmd({"fd-target", "0", "2"}),
                                        SpawnOptions{}.stdout_to(StdioRoute::borrow(fo)));
      if (q.wait() != safeexec::ExitStatus::exited(0)) return 13;
      // Nothing of ours (pidfds, the /dev/null opened for the child) took 0 or 2.
      return ::fcntl(0, F_GETFD) < 0 && ::fcntl(2, F_GETFD) < 0 ? 0 : 14;
    } catch (...) {
      return 12;
    }
  });
  ASSERT_EQ(rc, 0);
  EXPECT_EQ(read_file(o), "0 1 2\n0 /dev/null\n2 /dev/null\n");
}

// --- 2>&1 --------------------------------------------------------------------

TEST_F(Routing, MergedStderrKeepsTheOrderTheChildWrote) {
  constexpr int kLines = 2000;
  const auto r =
      safeexec::execute(child_cmd({"interleave", std::to_string(kLines)}),
                        bounded().spawn(SpawnOptions{}.stderr_to(StdioRoute::to_stdout())));
  EXPECT_EQ(r.out, interleaved(kLines));
  EXPECT_EQ(r.err, "");
  auto p =
      safeexec::create_process(child_cmd({"interleave", "3"}),
                               SpawnOptions{}.stdout_pipe().stderr_to(StdioRoute::to_stdout()));
  EXPECT_EQ(p.stderr_fd(), -1) << "one pipe, not two";
  EXPECT_EQ(p.communicate({}, safeexec::deadline_after(safeexec_test::kCommandLimit)).out,
            interleaved(3));
  EXPECT_EQ(p.wait(), safeexec::ExitStatus::exited(0));
}

TEST_F(Routing, MergedIntoAFile) {
  TempDir dir;
  const std::string log = dir.path() + "/log";
  (void)safeexec::execute(
      child_cmd({"interleave", "50"}),
      bounded().spawn(
          SpawnOptions{}.stdout_to(StdioRoute::file(log)).stderr_to(StdioRoute::to_stdout())));
  EXPECT_EQ(read_file(log), interleaved(50));
}

// --- refused plans -------------------------------------------------------------

template <class F>
void expect_refused(F&& start, const std::string& says) {
  try {
    start();
    ADD_FAILURE() << "the plan was not refused (want InvalidArgument saying \"" << says << "\")";
  } catch (const safeexec::InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find(says), std::string::npos) << e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "want InvalidArgument, got: " << e.what();
  }
}

TEST_F(Routing, RefusesMergeIntoInheritedStdoutAndToStdoutElsewhere) {
  expect_refused(
      [] {
        (void)safeexec::create_process(child_cmd({"exit", "0"}),
                                       SpawnOptions{}.stderr_to(StdioRoute::to_stdout()));
      },
      "stdout is inherited");
  expect_refused(
      [] {
        (void)safeexec::create_process(child_cmd({"exit", "0"}),
                                       SpawnOptions{}.stdout_to(StdioRoute::to_stdout()));
      },
      "only stderr");
  expect_refused(
      [] {
        (void)safeexec::execute(
            child_cmd({"exit", "0"}),
            bounded().spawn(SpawnOptions{}.stdin_from(StdioRoute::to_stdout())));
      },
      "only stderr");
}

TEST_F(Routing, RefusesBorrowedDescriptorThatIsNotOpenOrWrongWay) {
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  Fd r(p[0]);
  Fd w(p[1]);
  const int closed = ::dup(w.fd);
  ::close(closed);
  expect_refused(
      [&] {
        (void)safeexec::create_process(child_cmd({"exit", "0"}),
                                       SpawnOptions{}.stdout_to(StdioRoute::borrow(closed)));
      },
      "not an open descriptor");
  expect_refused(
      [&] {
        (void)safeexec::create_process(child_cmd({"exit", "0"}),
                                       SpawnOptions{}.stdout_to(StdioRoute::borrow(r.fd)));
      },
      "reading only");
  expect_refused(
      [&] {
        (void)safeexec::create_process(child_cmd({"exit", "0"}),
                                       SpawnOptions{}.stdin_from(StdioRoute::borrow(w.fd)));
      },
      "writing only");
  EXPECT_EQ(::fcntl(r.fd, F_GETFD), FD_CLOEXEC) << "a refused borrow leaves the fd as it was";
}

TEST_F(Routing, RefusesTheSamePipeBothWays) {
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  Fd r(p[0]);
  Fd w(p[1]);
  expect_refused(
      [&] {
        (void)safeexec::create_process(child_cmd({"echo"}),
                                       SpawnOptions{}
                                           .stdin_from(StdioRoute::borrow(r.fd))
                                           .stdout_to(StdioRoute::borrow(w.fd)));
      },
      "same pipe");
}

TEST_F(Routing, RefusesInputFileAsOutputAndLeavesItIntact) {
  TempDir dir;
  const std::string f = dir.write_file("data", "precious\n");
  expect_refused(
      [&] {
        (void)safeexec::execute(
            child_cmd({"echo"}),
            bounded().spawn(
                SpawnOptions{}.stdin_from(StdioRoute::file(f)).stdout_to(StdioRoute::file(f))));
      },
      "same file");
  EXPECT_EQ(read_file(f), "precious\n") << "a refused plan truncates nothing";
  const std::string both = dir.path() + "/both";
  expect_refused(
      [&] {
        (void)safeexec::execute(child_cmd({"exit", "0"}),
                                bounded().spawn(SpawnOptions{}
                                                    .stdout_to(StdioRoute::file(both))
                                                    .stderr_to(StdioRoute::file(both))));
      },
      "to_stdout()");
}

TEST_F(Routing, RefusesKeepFdThatIsAlsoABorrowedSource) {
  TempDir dir;
  Fd f(::open((dir.path() + "/x").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
  ASSERT_GE(f.fd, 3);
  expect_refused(
      [&] {
        (void)safeexec::create_process(
            child_cmd({"exit", "0"}),
            SpawnOptions{}.stdout_to(StdioRoute::borrow(f.fd)).keep_fd(f.fd));
      },
      "keep_fd() names too");
  expect_refused(
      [&] {
        (void)safeexec::create_process(child_cmd({"exit", "0"}), SpawnOptions{}.keep_fd(1));
      },
      "must be >= 3");
}

TEST_F(Routing, RefusesProcessInputWithStdinRoutedAway) {
  expect_refused(
      [] {
        (void)safeexec::execute(
            child_cmd({"echo"}),
            bounded().process_input("lost").spawn(SpawnOptions{}.stdin_from(StdioRoute::null())));
      },
      "input for the child is given");
}

TEST_F(Routing, RefusesEmptyOrNulPath) {
  expect_refused(
      [] {
        (void)safeexec::create_process(child_cmd({"exit", "0"}),
                                       SpawnOptions{}.stdout_to(StdioRoute::file("")));
      },
      "empty path");
  expect_refused(
      [] {
        (void)safeexec::create_process(
            child_cmd({"exit", "0"}),
            SpawnOptions{}.stdout_to(StdioRoute::file(std::string("a\0b", 3))));
      },
      "NUL");
}

// --- execute() keeps its defaults where nothing is routed ----------------------

TEST_F(Routing, ExecuteStdinFromNullMakesNoPipe) {
  // stdin routed to /dev/null: no pipe is made for it, and the pump copes.
  const auto r =
      safeexec::execute(child_cmd({"spew", "5", "0"}),
                        bounded().spawn(SpawnOptions{}.stdin_from(safeexec::Stdio::null)));
  EXPECT_EQ(r.out, safeexec_test::helper_pattern(5));
}

}  // namespace
