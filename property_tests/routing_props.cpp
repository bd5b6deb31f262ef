// routing_props.cpp - routing plans against a reference (issue 21, part 1).
//
// prop.Stream.Routing: for any generated child (the helper's deterministic
// writers and the zoo's flooders) and any routing plan - stdin from a pipe,
// a file or a borrowed descriptor; stdout to a pipe, a file (truncate or
// append onto old content), a borrowed descriptor or /dev/null; stderr to any
// of those or merged into stdout - run through execute() or create_process()
// + communicate():
//   S1 every stream that was captured or written to a file holds exactly what
//      a reference run of the same child wrote there: the reference is a raw
//      posix_spawn (no safeexec code) with stdin from a file, stdout and
//      stderr to two files, or - for a merged plan - both on one pipe, so the
//      merged bytes are compared with what a single pipe sees;
//   S2 a borrowed descriptor is still open, with its flags, after the run;
//   S3 nothing leaks: descriptors as before (no routed file left open in the
//      parent), no child left.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <rapidcheck.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "prop_gtest.hpp"
#include "safeexec/safeexec.hpp"
#include "support.hpp"

extern char** environ;

namespace safeexec_props {
namespace {

using namespace std::chrono_literals;
using safeexec::StdioRoute;

enum class Out { pipe, file, append, borrowed, null, merged };
enum class In { pipe, file, borrowed };

const char* name(Out o) {
  switch (o) {
    case Out::pipe:
      return "pipe";
    case Out::file:
      return "file";
    case Out::append:
      return "append";
    case Out::borrowed:
      return "borrowed";
    case Out::null:
      return "null";
    case Out::merged:
      return "merged";
  }
  return "?";
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void put(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
}

/// A directory for one case, removed at the end.
struct CaseDir {
  std::string path;
  CaseDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "safeexec-prop-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) != nullptr) path = tmpl;
  }
  ~CaseDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

struct Streams {
  std::string out, err;  // merged: everything in `out`
  bool ok = false;
};

/// The reference: posix_spawn with stdin from `in_file`, stdout/stderr to
/// two files, or both onto one pipe when `merged`. No safeexec code.
Streams reference(const std::vector<std::string>& argv, const std::string& in_file,
                  const std::string& dir, bool merged) {
  Streams s;
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, in_file.c_str(), O_RDONLY, 0);
  int p[2] = {-1, -1};
  const std::string ref_out = dir + "/ref-out";
  const std::string ref_err = dir + "/ref-err";
  if (merged) {
    if (::pipe2(p, O_CLOEXEC) != 0) return s;
    posix_spawn_file_actions_adddup2(&fa, p[1], 1);
    posix_spawn_file_actions_adddup2(&fa, p[1], 2);
  } else {
    posix_spawn_file_actions_addopen(&fa, 1, ref_out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&fa, 2, ref_err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  }
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (merged) {
    ::close(p[1]);
    char buf[65536];
    for (;;) {
      const ssize_t n = ::read(p[0], buf, sizeof buf);
      if (n > 0) {
        s.out.append(buf, static_cast<std::size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        break;
      }
    }
    ::close(p[0]);
  }
  if (rc != 0) return s;
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!merged) {
    s.out = slurp(ref_out);
    s.err = slurp(ref_err);
  }
  s.ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  return s;
}

/// One generated child: argv after the helper, and the input it reads.
struct Child {
  std::vector<std::string> args;
  std::string input;
};

rc::Gen<Child> gen_child() {
  const auto size = rc::gen::inRange<std::size_t>(0, 300 * 1024);
  return rc::gen::oneOf(
      rc::gen::map(rc::gen::pair(size, size),
                   [](std::pair<std::size_t, std::size_t> n) {
                     return Child{{"spew", std::to_string(n.first), std::to_string(n.second)}, ""};
                   }),
      rc::gen::map(rc::gen::pair(rc::gen::inRange<std::size_t>(0, 100 * 1024),
                                 rc::gen::container<std::string>(rc::gen::arbitrary<char>())),
                   [](std::pair<std::size_t, std::string> v) {
                     return Child{{"write-then-echo", std::to_string(v.first)}, v.second};
                   }),
      rc::gen::map(rc::gen::inRange(0, 3000),
                   [](int n) {
                     return Child{{"interleave", std::to_string(n)}, ""};
                   }),
      rc::gen::map(size,
                   [](std::size_t n) {
                     return Child{{"zoo-huge-both", std::to_string(n)}, ""};
                   }),
      rc::gen::map(size, [](std::size_t n) {
        return Child{{"zoo-stderr-only", std::to_string(n)}, ""};
      }));
}

SAFEEXEC_PROP(Stream, Routing) {
  const Child child = *gen_child();
  const In in = *rc::gen::element(In::pipe, In::file, In::borrowed);
  const Out out = *rc::gen::element(Out::pipe, Out::file, Out::append, Out::borrowed, Out::null);
  const Out err =
      *rc::gen::element(Out::pipe, Out::file, Out::append, Out::borrowed, Out::null, Out::merged);
  const bool via_execute = *rc::gen::arbitrary<bool>();
  RC_TAG(name(out), name(err), via_execute ? "execute" : "communicate");

  CaseDir dir;
  RC_ASSERT(!dir.path.empty());
  std::vector<std::string> argv{helper_path()};
  argv.insert(argv.end(), child.args.begin(), child.args.end());
  const std::string in_file = dir.path + "/in";
  put(in_file, child.input);
  const bool merged = err == Out::merged;
  const Streams want = reference(argv, in_file, dir.path, merged);
  RC_ASSERT(want.ok);

  LeakGuard leaks;
  {
    const std::string old = "old content\n";
    std::array<int, 3> borrowed{-1, -1, -1};
    std::array<std::string, 3> paths{in_file, dir.path + "/out", dir.path + "/err"};
    safeexec::SpawnOptions spawn;
    if (in == In::file) spawn.stdin_from(StdioRoute::file(in_file));
    if (in == In::borrowed) {
      borrowed[0] = ::open(in_file.c_str(), O_RDONLY | O_CLOEXEC);
      spawn.stdin_from(StdioRoute::borrow(borrowed[0]));
    }
    if (in == In::pipe && !via_execute) spawn.stdin_pipe();
    const auto route = [&](int i, Out o) -> StdioRoute {
      const std::string& p = paths[static_cast<std::size_t>(i)];
      switch (o) {
        case Out::pipe:
          return StdioRoute::pipe();
        case Out::file:
          put(p, old);  // must be truncated away
          return StdioRoute::file(p);
        case Out::append:
          put(p, old);
          return StdioRoute::file(p, safeexec::FileWrite::append);
        case Out::borrowed:
          borrowed[static_cast<std::size_t>(i)] =
              ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
          return StdioRoute::borrow(borrowed[static_cast<std::size_t>(i)]);
        case Out::null:
          return StdioRoute::null();
        case Out::merged:
          return StdioRoute::to_stdout();
      }
      return StdioRoute::inherit();
    };
    spawn.stdout_to(route(1, out)).stderr_to(route(2, err));
    const std::string input = in == In::pipe ? child.input : std::string();

    safeexec::Output got;
    if (via_execute) {
      const safeexec::ExecuteResult r = safeexec::execute(
          argv, safeexec::ExecuteOptions{}.process_input(input).timeout(60s).spawn(spawn));
      got.out = r.out;
      got.err = r.err;
    } else {
      safeexec::Process p = safeexec::create_process(argv, spawn);
      got = p.communicate(input, safeexec::deadline_after(60s));
      PROP_CHECK(p.wait() == safeexec::ExitStatus::exited(0), "child did not exit 0");
    }

    // S2: borrowed descriptors are still ours, still close-on-exec.
    for (int fd : borrowed) {
      if (fd < 0) continue;
      PROP_CHECK(::fcntl(fd, F_GETFD) == FD_CLOEXEC,
                 "R01: borrowed fd " + std::to_string(fd) + " was closed or changed");
      ::close(fd);
    }
    // S1, per stream: what ended where it was routed.
    const auto seen = [&](int i, Out o, const std::string& captured) -> std::string {
      const std::string& p = paths[static_cast<std::size_t>(i)];
      switch (o) {
        case Out::pipe:
          return captured;
        case Out::file:
        case Out::borrowed:
          return slurp(p);
        case Out::append: {
          const std::string all = slurp(p);
          PROP_CHECK(all.compare(0, old.size(), old) == 0, "appended file lost its old content");
          return all.substr(old.size());
        }
        case Out::null:
        case Out::merged:
          return {};
      }
      return {};
    };
    if (out != Out::null) {
      const std::string s = seen(1, out, got.out);
      PROP_CHECK(s == want.out, std::string("S1: stdout routed to ") + name(out) + " holds " +
                                    std::to_string(s.size()) + " bytes " + show_bytes(s) +
                                    ", the reference " + std::to_string(want.out.size()) + " " +
                                    show_bytes(want.out) + (merged ? " (merged)" : ""));
    }
    if (!merged && err != Out::null) {
      const std::string s = seen(2, err, got.err);
      PROP_CHECK(s == want.err, std::string("S1: stderr routed to ") + name(err) + " holds " +
                                    std::to_string(s.size()) + " bytes, the reference " +
                                    std::to_string(want.err.size()));
    }
    if (merged || err != Out::pipe) PROP_CHECK(got.err.empty(), "stderr captured though routed");
    if (out != Out::pipe) PROP_CHECK(got.out.empty(), "stdout captured though routed");
  }
  leaks.verify("S3 routing");
}

}  // namespace
}  // namespace safeexec_props
