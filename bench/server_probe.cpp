// server_probe.cpp - whether this process's spawn server is running (issue 20).
//
// The server strategy spawns directly, silently, where it finds no
// safeexec-spawn-server executable or the server will not start (that is the
// library's documented fallback). A benchmark of the server path would then
// report the direct path's cost under the server's name - as ci/bench did
// while its build made only safeexec-bench. The server benchmarks therefore
// look, after their timed loop, for a child of this process running
// safeexec-spawn-server, and fail without one.
#include <unistd.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <system_error>

#include "bench_common.hpp"

namespace sxbench {

bool spawn_server_running() {
  namespace fs = std::filesystem;
  const long self = static_cast<long>(::getpid());
  std::error_code ec;
  for (fs::directory_iterator it("/proc", ec), end; !ec && it != end; it.increment(ec)) {
    const std::string pid = it->path().filename().string();
    if (pid.empty() || std::isdigit(static_cast<unsigned char>(pid[0])) == 0) continue;
    std::ifstream stat(it->path() / "stat");
    std::string line;
    if (!std::getline(stat, line)) continue;  // gone meanwhile
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    const std::size_t close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 1));
    char state = 0;
    long ppid = 0;
    if (!(rest >> state >> ppid) || ppid != self) continue;
    std::error_code exe_ec;
    const fs::path exe = fs::read_symlink(it->path() / "exe", exe_ec);
    if (!exe_ec && exe.filename() == "safeexec-spawn-server") return true;
  }
  return false;
}

}  // namespace sxbench
