// Issue 18 item 9 (H26): input that cannot reach the child is refused, not
// dropped. communicate("...") on a child whose stdin is /dev/null or the
// parent's, after close_stdin(), after a communicate() that finished, or on
// a moved-from handle throws InvalidArgument (naming the size, never the
// bytes), reads nothing, and leaves the handle usable: communicate() without
// input still collects the output and reaps the child. The same holds for a
// stdin source (a callback asked for bytes) and for step(): input for a
// stdin that is null, a file, a borrowed descriptor or inherited is an
// InvalidArgument naming stdin, and the source is never asked.
#include <fcntl.h>
#include <unistd.h>

#include <string>
#include <utility>
#include <vector>

#include "leak_check.hpp"
#include "test_child.hpp"

namespace {

using safeexec::Output;
using safeexec::Process;
using safeexec::SpawnOptions;
using safeexec::Stdio;
using safeexec::StdioRoute;
using safeexec_test::child_cmd;
using safeexec_test::kCommandLimit;
using InputDelivery = safeexec_test::LeakChecked;

constexpr const char* kInput = "hello-undelivered\n";

void expect_refused(Process& p, const std::string& input) {
  try {
    (void)p.communicate(input, safeexec::deadline_after(kCommandLimit));
    ADD_FAILURE() << "communicate accepted input it could not deliver";
  } catch (const safeexec::InvalidArgument& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("cannot be delivered"), std::string::npos) << what;
    EXPECT_NE(what.find(std::to_string(input.size()) + " bytes"), std::string::npos) << what;
    EXPECT_EQ(what.find(input), std::string::npos) << "the input reached the message: " << what;
  }
}

TEST_F(InputDelivery, StdinThatIsNotAPipeRefusesInput) {
  for (const Stdio mode : {Stdio::null, Stdio::inherit}) {
    SCOPED_TRACE(mode == Stdio::null ? "stdin_null" : "stdin inherited");
    // "exit 0": reads nothing, so an inherited stdin is left alone.
    Process p = safeexec::create_process(child_cmd({"exit", "0"}),
                                         SpawnOptions{}.stdin_mode(mode).stdout_pipe());
    expect_refused(p, kInput);
    // The refusal read nothing and left the handle as it was.
    const Output o = p.communicate({}, safeexec::deadline_after(kCommandLimit));
    EXPECT_EQ(o.out, "");
    EXPECT_TRUE(p.wait().success());
  }
}

TEST_F(InputDelivery, SecondCommunicateRefusesNewInput) {
  Process p =
      safeexec::create_process(child_cmd({"echo"}), SpawnOptions{}.stdin_pipe().stdout_pipe());
  const Output first = p.communicate("one", safeexec::deadline_after(kCommandLimit));
  EXPECT_EQ(first.out, "one");
  expect_refused(p, "two");
  // Without input a finished handle still answers, with nothing more.
  EXPECT_EQ(p.communicate({}, safeexec::deadline_after(kCommandLimit)).out, "");
  EXPECT_TRUE(p.wait().success());
}

TEST_F(InputDelivery, InputAfterCloseStdinIsRefused) {
  Process p =
      safeexec::create_process(child_cmd({"echo"}), SpawnOptions{}.stdin_pipe().stdout_pipe());
  p.close_stdin();
  expect_refused(p, kInput);
  EXPECT_EQ(p.communicate({}, safeexec::deadline_after(kCommandLimit)).out, "");
  EXPECT_TRUE(p.wait().success());
}

TEST_F(InputDelivery, MovedFromHandleRefusesInput) {
  Process p = safeexec::create_process(child_cmd({"exit", "0"}));
  Process owner = std::move(p);
  expect_refused(p, kInput);  // NOLINT(bugprone-use-after-move): the point of the test
  EXPECT_EQ(p.communicate().out, "");
  // step() too: a refusal for input, "done" without (never a null handle followed).
  EXPECT_THROW((void)safeexec::step(p, safeexec::Streams{}, kInput), safeexec::InvalidArgument);
  EXPECT_TRUE(safeexec::step(p, safeexec::Streams{}).done);
  EXPECT_TRUE(owner.wait().success());
}

TEST_F(InputDelivery, EmptyInputIsAlwaysAccepted) {
  Process p =
      safeexec::create_process(child_cmd({"exit", "0"}), SpawnOptions{}.stdin_mode(Stdio::null));
  EXPECT_EQ(p.communicate("", safeexec::deadline_after(kCommandLimit)).out, "");
  EXPECT_TRUE(p.wait().success());
}

/// Each stdin that is not a pipe of the handle, for a child that reads nothing.
struct NoPipeStdin {
  const char* name;
  StdioRoute route;
};

std::vector<NoPipeStdin> no_pipe_stdins(const std::string& file, int borrowed) {
  return {{"null", StdioRoute::null()},
          {"file", StdioRoute::file(file)},
          {"borrowed", StdioRoute::borrow(borrowed)},
          {"inherit", StdioRoute::inherit()}};
}

TEST_F(InputDelivery, SourceOrStepInputForAStdinThatIsNoPipeIsRefused) {
  safeexec_test::TempDir dir;
  const std::string file = dir.write_file("in", "");
  const int lent = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(lent, 0);
  for (const NoPipeStdin& s : no_pipe_stdins(file, lent)) {
    SCOPED_TRACE(s.name);
    Process p = safeexec::create_process(child_cmd({"exit", "0"}),
                                         SpawnOptions{}.stdin_from(s.route).stdout_pipe());
    bool asked = false;
    safeexec::Streams io;
    io.in = [&](char*, std::size_t) {
      asked = true;
      return std::size_t{0};
    };
    const auto refused = [&](const auto& call) {
      try {
        call();
        ADD_FAILURE() << "input for a stdin that is no pipe was accepted";
      } catch (const safeexec::InvalidArgument& e) {
        EXPECT_NE(std::string(e.what()).find("stdin"), std::string::npos) << e.what();
      }
    };
    refused([&] { (void)p.communicate(io, {}, safeexec::deadline_after(kCommandLimit)); });
    refused([&] { (void)safeexec::step(p, io, {}, safeexec::deadline_after(kCommandLimit)); });
    refused([&] {
      (void)safeexec::step(p, safeexec::Streams{}, kInput, safeexec::deadline_after(kCommandLimit));
    });
    EXPECT_FALSE(asked) << "the source was asked";
    // The refusals left the handle as it was.
    EXPECT_EQ(p.communicate({}, safeexec::deadline_after(kCommandLimit)).out, "");
    EXPECT_TRUE(p.wait().success());
  }
  ::close(lent);
}

}  // namespace
