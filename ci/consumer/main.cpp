// Runs `echo` through the installed library and checks what came back; then
// once more through the spawn server (issue 20), which must be found where
// the library was installed (or built, for add_subdirectory) and run as this
// process's child.
#include <safeexec/safeexec.hpp>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace {

/// A child of ours whose command name is the spawn server's (comm is cut at 15 characters).
bool spawn_server_is_our_child() {
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    std::ifstream stat(entry.path() / "stat");
    std::string line;
    if (!std::getline(stat, line)) continue;
    const std::size_t close = line.rfind(')');
    const std::size_t open = line.find('(');
    if (close == std::string::npos || open == std::string::npos) continue;
    const std::string comm = line.substr(open + 1, close - open - 1);
    const long ppid = std::strtol(line.c_str() + close + 4, nullptr, 10);
    if (ppid == ::getpid() && comm == "safeexec-spawn-") return true;
  }
  return false;
}

}  // namespace

int main() {
  const safeexec::ExecuteResult r = safeexec::execute({"echo", "consumer-ok"});
  if (r.out != "consumer-ok\n") {
    std::fprintf(stderr, "unexpected output: %s\n", r.out.c_str());
    return 1;
  }
  const safeexec::ExecuteResult s = safeexec::execute(
      {"echo", "server-ok"},
      safeexec::ExecuteOptions{}.spawn(
          safeexec::SpawnOptions{}.spawn_strategy(safeexec::SpawnStrategy::server)));
  if (s.out != "server-ok\n") {
    std::fprintf(stderr, "unexpected output through the server: %s\n", s.out.c_str());
    return 1;
  }
  if (!spawn_server_is_our_child()) {
    std::fprintf(stderr, "the spawn server was not found or did not start\n");
    return 1;
  }
  std::printf("consumer: %s", r.out.c_str());
  return 0;
}
