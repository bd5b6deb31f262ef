// safeexec-test-child - the program that tests, fuzz targets, property tests
// and benchmarks start. Each mode does one observable thing. Plain POSIX,
// no safeexec code, so it cannot hide a library defect.
//
//   echo                      copy stdin to stdout until EOF
//   argv ARG...               write each ARG followed by a NUL byte
//   argv0                     write argv[0], a NUL, and the path /proc/self/exe names
//   env                       write each environment entry followed by NUL
//   fds                       write the open descriptor numbers, space-separated
//   cwd                       write the working directory
//   signals                   write "blocked=<hex> ignored=<hex>" as /proc/self/status says
//   pgid                      write "<pid> <pgid>"
//   exit N                    exit with code N
//   signal N                  kill itself with signal N
//   sleep MS                  sleep MS milliseconds, then exit 0
//   ignore-term MS            ignore SIGTERM, then sleep MS
//   write-then-echo N         write N bytes to stdout and N to stderr, then echo stdin
//   spew OUT ERR              write OUT bytes to stdout and ERR to stderr, exit 0 (stdin unread)
//   ignore-stdin              exit 0 at once, stdin unread
//   read-some N               read N bytes of stdin, close it, echo them, exit 0
//   daemon MS                 fork a grandchild holding stdout/stderr for MS ms; exit 0 at once
//   traced-sleep HOLD MS      fork a tracer (in a process group of its own, holding none of
//                             our descriptors) that PTRACE_SEIZEs us and never calls waitpid:
//                             our exit stays hidden from our parent until the tracer exits,
//                             HOLD ms later. Write "traced by <tracer pid>\n" once attached,
//                             then sleep MS
//   leave-group MS            move into our parent's process group (setpgid), write
//                             "left\n", sleep MS
//   interleave N              write "o<i>\n" to stdout then "e<i>\n" to stderr, i = 0..N-1
//                             (one write each: a merged stream shows the order kept)
//   echo-err                  copy stdin to stderr until EOF
//   contain-info              what containment set (issue 19), one key=value a line:
//                             cgroup (the 0:: path), umask (octal), nofile (soft:hard),
//                             nnp, pdeathsig, uid, gid, groups (comma list), sid, pgid, pid
//   spin MS                   burn MS ms of CPU time (its own, not the clock's), exit 0
//   prctls                    write "securebits=<n> thp_disable=<n>", what prctl says
//   zoo-escape LMS DMS PIDFILE  a daemon escaping the way daemons do: fork, setsid,
//                             fork again; the grandchild writes its pid to PIDFILE,
//                             puts /dev/null on 0/1/2 and lives DMS ms; the leader
//                             sleeps LMS ms, exit 0
//   zoo-forkbomb MS           fork without end (every copy forks again) for MS ms,
//                             then each copy exits; prints "fork refused\n" once the
//                             kernel says EAGAIN. Refuses to start (exit 3) unless
//                             its own cgroup v2 has a pids.max other than "max"
//   zoo-memhog MB             allocate and touch MB MiB, 1 MiB at a time, print
//                             "held <MB>\n", sleep 10 s. Refuses to start (exit 3)
//                             unless its own cgroup v2 has a memory.max other than "max"
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <dirent.h>
#include <cerrno>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

extern char** environ;

namespace {

bool write_all(int fd, const char* data, size_t n) {
  while (n > 0) {
    const ssize_t w = write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

bool write_str(const std::string& s) {
  return write_all(1, s.data(), s.size());
}

int echo(int out = 1) {
  char buf[65536];
  for (;;) {
    const ssize_t n = read(0, buf, sizeof buf);
    if (n == 0) return 0;
    if (n < 0) {
      if (errno == EINTR) continue;
      return 3;
    }
    if (!write_all(out, buf, static_cast<size_t>(n))) return 4;
  }
}

bool write_pattern(int fd, long n) {
  std::string chunk(65536, 'x');
  for (size_t i = 0; i < chunk.size(); ++i) chunk[i] = static_cast<char>('a' + i % 26);
  while (n > 0) {
    const size_t k = n < static_cast<long>(chunk.size()) ? static_cast<size_t>(n) : chunk.size();
    if (!write_all(fd, chunk.data(), k)) return false;
    n -= static_cast<long>(k);
  }
  return true;
}

void sleep_ms(long ms) {
  timespec ts{ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/// /proc + suffix; under ci/kernels' no-proc profile /proc is empty and the
/// fixtures' procfs is named in SAFEEXEC_TEST_PROC (when the test passed the
/// environment on). The fallbacks below cover a child started without it.
std::string proc_path(const char* suffix) {
  const char* root = std::getenv("SAFEEXEC_TEST_PROC");
  return std::string(root != nullptr && *root != '\0' ? root : "/proc") + suffix;
}

std::string status_field(const char* name) {
  FILE* f = std::fopen(proc_path("/self/status").c_str(), "re");
  if (f == nullptr) return "?";
  char line[512];
  std::string value = "?";
  const size_t len = std::strlen(name);
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::strncmp(line, name, len) == 0 && line[len] == ':') {
      value = line + len + 1;
      while (!value.empty() && (value.front() == '\t' || value.front() == ' ')) value.erase(0, 1);
      while (!value.empty() && value.back() == '\n') value.pop_back();
    }
  }
  std::fclose(f);
  return value;
}

/// Without any procfs: the same masks as /proc/self/status prints them
/// (bit sig-1, 16 hex digits), from the raw syscalls (glibc's wrappers refuse
/// its own internal signals 32 and 33). x86_64/aarch64 kernel sigaction layout.
std::string hex_mask(uint64_t mask) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016" PRIx64, mask);
  return buf;
}

std::string blocked_without_proc() {
  uint64_t mask = 0;
  if (::syscall(SYS_rt_sigprocmask, SIG_BLOCK, nullptr, &mask, sizeof mask) != 0) return "?";
  return hex_mask(mask);
}

std::string ignored_without_proc() {
  struct KernelSigaction {
    void* handler;
    unsigned long flags;
    void* restorer;
    uint64_t mask;
  };
  uint64_t ignored = 0;
  for (int sig = 1; sig <= 64; ++sig) {
    KernelSigaction old{};
    if (::syscall(SYS_rt_sigaction, sig, nullptr, &old, sizeof(uint64_t)) != 0) continue;
    if (old.handler == reinterpret_cast<void*>(SIG_IGN)) ignored |= uint64_t{1} << (sig - 1);
  }
  return hex_mask(ignored);
}

/// Open descriptor numbers, from /proc/self/fd or, without a procfs, by
/// asking fcntl(F_GETFD) about every number below RLIMIT_NOFILE (a process
/// cannot hold a descriptor at or above its limit unless the limit was
/// lowered after it was opened; no test does that to the helper).
std::string open_fd_list() {
  std::string out;
  if (DIR* d = opendir(proc_path("/self/fd").c_str())) {
    const int own = dirfd(d);
    while (dirent* ent = readdir(d)) {
      if (ent->d_name[0] == '.') continue;
      const int fd = std::atoi(ent->d_name);
      if (fd == own) continue;
      if (!out.empty()) out += ' ';
      out += ent->d_name;
    }
    closedir(d);
    return out;
  }
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return "?";
  const rlim_t top = lim.rlim_cur < 1048576 ? lim.rlim_cur : 1048576;
  for (rlim_t fd = 0; fd < top; ++fd) {
    if (fcntl(static_cast<int>(fd), F_GETFD) < 0) continue;
    if (!out.empty()) out += ' ';
    out += std::to_string(fd);
  }
  return out;
}

int usage() {
  write_all(2, "safeexec-test-child: bad mode or arguments\n", 43);
  return 64;
}

// ---- zoo modes (issue 14 part 3) ------------------------------------------
// The misbehaving children users meet, for prop.Zoo.* (property_tests/
// zoo_props.cpp). Kept apart from the modes above; each name starts "zoo-".
// (Exits before reading input: `ignore-stdin`; ignores SIGTERM: `ignore-term`.)
//
//   zoo-yes                   write "y\n" to stdout forever, as yes(1) does, from
//                             two processes, into a 1 MiB pipe
//   zoo-write-sleep N MS      write N pattern bytes to stdout, sleep MS, exit 0
//   zoo-background MS         write "started\n", fork a job that keeps stdout and
//                             stderr open for MS ms in our process group, exit 0
//                             (sh -c 'sleep 3 & echo done')
//   zoo-setsid MS PIDFILE     the same, but the job calls setsid() first (it
//                             leaves our group and session) and writes its pid to
//                             PIDFILE, so that the test can find and kill it
//   zoo-stop                  stop itself with SIGSTOP (exit 0 if continued)
//   zoo-close-stdout MS       close stdout, keep running MS ms, exit 0
//   zoo-stderr-only N         write N pattern bytes to stderr only, exit 0
//   zoo-huge-both N           write N pattern bytes to stdout and N to stderr,
//                             alternating 64 KiB chunks, exit 0

// ---- containment modes (issue 19) -----------------------------------------

/// The first line of `name` in our own cgroup v2 directory (the cgroup2
/// mount from mountinfo + the 0:: path), or "missing".
std::string own_cgroup_file(const char* name) {
  std::string mount;
  std::string rel;
  char line[4096];
  if (FILE* f = std::fopen(proc_path("/self/mountinfo").c_str(), "re")) {
    while (mount.empty() && std::fgets(line, sizeof line, f) != nullptr) {
      char root[1024] = {};
      char point[1024] = {};
      if (std::strstr(line, " - cgroup2 ") != nullptr &&
          std::sscanf(line, "%*s %*s %*s %1023s %1023s", root, point) == 2 &&
          std::strcmp(root, "/") == 0) {
        mount = point;
      }
    }
    std::fclose(f);
  }
  if (FILE* f = std::fopen(proc_path("/self/cgroup").c_str(), "re")) {
    while (std::fgets(line, sizeof line, f) != nullptr) {
      if (std::strncmp(line, "0::", 3) == 0) rel = line + 3;
    }
    std::fclose(f);
  }
  while (!rel.empty() && rel.back() == '\n') rel.pop_back();
  if (mount.empty() || rel.empty()) return "missing";
  std::string value = "missing";
  if (FILE* f = std::fopen((mount + (rel == "/" ? "" : rel) + "/" + name).c_str(), "re")) {
    if (std::fgets(line, sizeof line, f) != nullptr) {
      value = line;
      while (!value.empty() && value.back() == '\n') value.pop_back();
    }
    std::fclose(f);
  }
  return value;
}

/// The zoo's dangerous children run only under the limit that bounds them.
bool limited_by(const char* file) {
  const std::string v = own_cgroup_file(file);
  if (v != "missing" && v != "max") return true;
  const std::string msg = std::string("safeexec-test-child: refusing to start without ") + file +
                          " in my cgroup (" + v + ")\n";
  (void)write_all(2, msg.data(), msg.size());
  return false;
}

long elapsed_ms(const timespec& start) {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
}

int fork_bomb(long ms) {
  if (!limited_by("pids.max")) return 3;
  timespec start{};
  clock_gettime(CLOCK_MONOTONIC, &start);
  const pid_t leader = getpid();
  bool told = false;
  while (elapsed_ms(start) < ms) {
    const pid_t pid = fork();
    if (pid < 0) {
      if (getpid() == leader && !told && errno == EAGAIN) told = write_str("fork refused\n");
      sleep_ms(1);
    }
  }
  if (getpid() != leader) _exit(0);
  return 0;
}

int memory_hog(long mib) {
  if (!limited_by("memory.max")) return 3;
  std::vector<char*> held;
  for (long i = 0; i < mib; ++i) {
    char* chunk = static_cast<char*>(std::malloc(1 << 20));
    if (chunk == nullptr) return 5;
    std::memset(chunk, static_cast<int>(i), 1 << 20);  // touched: resident, charged
    held.push_back(chunk);
  }
  if (!write_str("held " + std::to_string(mib) + "\n")) return 4;
  sleep_ms(10000);
  return 0;
}

int containment_main(int argc, char** argv) {
  const std::string mode = argv[1];
  const auto num = [&](int i) -> long { return i < argc ? std::strtol(argv[i], nullptr, 10) : -1; };
  if (mode == "contain-info") {
    std::string out;
    if (FILE* f = std::fopen(proc_path("/self/cgroup").c_str(), "re")) {
      char line[4096];
      while (std::fgets(line, sizeof line, f) != nullptr) {
        if (std::strncmp(line, "0::", 3) == 0) out += std::string("cgroup=") + (line + 3);
      }
      std::fclose(f);
    }
    const mode_t mask = umask(0);
    char octal[16];
    std::snprintf(octal, sizeof octal, "%o", static_cast<unsigned>(mask));
    out += std::string("umask=") + octal + "\n";
    rlimit nofile{};
    (void)getrlimit(RLIMIT_NOFILE, &nofile);
    out +=
        "nofile=" + std::to_string(nofile.rlim_cur) + ":" + std::to_string(nofile.rlim_max) + "\n";
    out += "nnp=" + std::to_string(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0)) + "\n";
    int pdeath = -1;
    (void)prctl(PR_GET_PDEATHSIG, &pdeath, 0, 0, 0);
    out += "pdeathsig=" + std::to_string(pdeath) + "\n";
    out += "uid=" + std::to_string(getuid()) + "\n";
    out += "gid=" + std::to_string(getgid()) + "\n";
    gid_t groups[256];
    const int n = getgroups(256, groups);
    out += "groups=";
    for (int i = 0; i < n; ++i) out += (i > 0 ? "," : "") + std::to_string(groups[i]);
    out += "\n";
    out += "sid=" + std::to_string(getsid(0)) + "\n";
    out += "pgid=" + std::to_string(getpgid(0)) + "\n";
    out += "pid=" + std::to_string(getpid()) + "\n";
    out += "pids.max=" + own_cgroup_file("pids.max") + "\n";
    out += "memory.max=" + own_cgroup_file("memory.max") + "\n";
    return write_str(out) ? 0 : 4;
  }
  if (mode == "spin") {
    timespec start{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &start);
    volatile unsigned long sink = 0;
    for (;;) {
      for (int i = 0; i < 100000; ++i) sink = sink + static_cast<unsigned long>(i);
      timespec now{};
      clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
      const long elapsed =
          (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
      if (elapsed >= num(2)) return 0;
    }
  }
  if (mode == "zoo-forkbomb") return fork_bomb(num(2));
  if (mode == "zoo-memhog") return memory_hog(num(2));
  if (mode == "zoo-escape") {
    if (argc < 5) return usage();
    const pid_t first = fork();
    if (first < 0) return 5;
    if (first == 0) {
      if (setsid() < 0) _exit(6);
      const pid_t second = fork();
      if (second != 0) _exit(second < 0 ? 5 : 0);
      const int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
      for (int fd = 0; fd < 3; ++fd) (void)dup2(devnull, fd);
      const std::string me = std::to_string(getpid()) + "\n";
      const std::string tmp = std::string(argv[4]) + ".tmp";
      const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      if (fd >= 0) {
        (void)write_all(fd, me.data(), me.size());
        close(fd);
        (void)rename(tmp.c_str(), argv[4]);  // the test sees the whole pid or nothing
      }
      sleep_ms(num(3));
      _exit(0);
    }
    sleep_ms(num(2));
    return 0;
  }
  return usage();
}

int zoo_main(int argc, char** argv) {
  const std::string mode = argv[1];
  const auto num = [&](int i) -> long { return i < argc ? std::strtol(argv[i], nullptr, 10) : -1; };
  if (mode == "zoo-yes") {
    // As fast as the machine allows: the largest pipe an unprivileged
    // process may ask for, 1 MiB writes, and a second writer process, so
    // that the reader finds the pipe readable on every pass (issue 12
    // item 1: a deadline checked only when poll() times out never fires).
    (void)fcntl(1, F_SETPIPE_SZ, 1 << 20);
    (void)fork();  // both write; the second is in our process group
    std::string chunk;
    while (chunk.size() < (1U << 20)) chunk += "y\n";
    for (;;) {
      if (!write_all(1, chunk.data(), chunk.size())) return 4;
    }
  }
  if (mode == "zoo-write-sleep") {
    if (!write_pattern(1, num(2))) return 4;
    sleep_ms(num(3));
    return 0;
  }
  if (mode == "zoo-background" || mode == "zoo-setsid") {
    const bool escape = mode == "zoo-setsid";
    const long ms = num(2);
    if (escape && argc < 4) return usage();
    const pid_t pid = fork();
    if (pid < 0) return 5;
    if (pid == 0) {
      if (escape) {
        if (setsid() < 0) _exit(6);
        const int fd = open(argv[3], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd >= 0) {
          const std::string me = std::to_string(getpid()) + "\n";
          (void)write_all(fd, me.data(), me.size());
          close(fd);
        }
      }
      // Holds stdout and stderr (inherited) until it ends; bounded so that a
      // test that fails to clean up leaves nothing for long.
      sleep_ms(ms);
      _exit(0);
    }
    return write_str("started\n") ? 0 : 4;
  }
  if (mode == "zoo-stop") {
    raise(SIGSTOP);
    return 0;
  }
  if (mode == "zoo-close-stdout") {
    close(1);
    sleep_ms(num(2));
    return 0;
  }
  if (mode == "zoo-stderr-only") return write_pattern(2, num(2)) ? 0 : 4;
  if (mode == "zoo-huge-both") {
    long left = num(2);
    std::string chunk(65536, 'x');
    for (size_t i = 0; i < chunk.size(); ++i) chunk[i] = static_cast<char>('a' + i % 26);
    while (left > 0) {
      const size_t k = left < 65536 ? static_cast<size_t>(left) : chunk.size();
      if (!write_all(1, chunk.data(), k) || !write_all(2, chunk.data(), k)) return 4;
      left -= static_cast<long>(k);
    }
    return 0;
  }
  return usage();
}
}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  const std::string mode = argv[1];
  const auto num = [&](int i) -> long { return i < argc ? std::strtol(argv[i], nullptr, 10) : -1; };
  if (mode == "contain-info" || mode == "spin" || mode == "zoo-escape" || mode == "zoo-forkbomb" ||
      mode == "zoo-memhog") {
    return containment_main(argc, argv);  // issue 19, above
  }
  if (mode.rfind("zoo-", 0) == 0) return zoo_main(argc, argv);  // issue 14 part 3, below

  if (mode == "echo") return echo();
  if (mode == "argv") {
    for (int i = 2; i < argc; ++i) {
      if (!write_all(1, argv[i], std::strlen(argv[i]) + 1)) return 4;
    }
    return 0;
  }
  if (mode == "argv0") {
    char exe[4096];
    const ssize_t n = readlink(proc_path("/self/exe").c_str(), exe, sizeof exe);
    if (n < 0) return 5;
    return write_all(1, argv[0], std::strlen(argv[0]) + 1) &&
                   write_all(1, exe, static_cast<size_t>(n))
               ? 0
               : 4;
  }
  if (mode == "env") {
    // The block execve() was given, from /proc/self/environ: what this
    // process did to its environment since (a coverage build's profile
    // runtime adds __LLVM_PROFILE_RT_INIT_ONCE before main) is not what the
    // parent passed. environ only where there is no procfs.
    FILE* f = std::fopen(proc_path("/self/environ").c_str(), "re");
    if (f != nullptr) {
      char buf[4096];
      size_t n = 0;
      bool ok = true;
      while (ok && (n = std::fread(buf, 1, sizeof buf, f)) > 0) ok = write_all(1, buf, n);
      std::fclose(f);
      return ok ? 0 : 4;
    }
    for (char** e = environ; *e != nullptr; ++e) {
      if (!write_all(1, *e, std::strlen(*e) + 1)) return 4;
    }
    return 0;
  }
  if (mode == "prctls") {
    return write_str("securebits=" + std::to_string(prctl(PR_GET_SECUREBITS, 0, 0, 0, 0)) +
                     " thp_disable=" + std::to_string(prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0)) + "\n")
               ? 0
               : 4;
  }
  if (mode == "fds") {
    const std::string fds = open_fd_list();
    if (fds == "?") return 5;
    return write_str(fds + "\n") ? 0 : 4;
  }
  if (mode == "fd-target") {
    // "N /dev/null", "N closed" or "N other" for each descriptor named
    // (by fstat, so it needs no /proc).
    struct stat null_st {};
    if (stat("/dev/null", &null_st) != 0) return 5;
    std::string out;
    for (int i = 2; i < argc; ++i) {
      const int fd = std::atoi(argv[i]);
      struct stat st {};
      const char* what = "other";
      if (fcntl(fd, F_GETFD) < 0) {
        what = "closed";
      } else if (fstat(fd, &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == null_st.st_rdev) {
        what = "/dev/null";
      }
      out += std::to_string(fd) + " " + what + "\n";
    }
    return write_str(out) ? 0 : 4;
  }
  if (mode == "cwd") {
    char buf[4096];
    if (getcwd(buf, sizeof buf) == nullptr) return 5;
    return write_str(std::string(buf) + "\n") ? 0 : 4;
  }
  if (mode == "signals") {
    std::string blocked = status_field("SigBlk");
    std::string ignored = status_field("SigIgn");
    if (blocked == "?") blocked = blocked_without_proc();
    if (ignored == "?") ignored = ignored_without_proc();
    return write_str("blocked=" + blocked + " ignored=" + ignored + "\n") ? 0 : 4;
  }
  if (mode == "pgid") {
    return write_str(std::to_string(getpid()) + " " + std::to_string(getpgrp()) + "\n") ? 0 : 4;
  }
  if (mode == "exit") return static_cast<int>(num(2));
  if (mode == "signal") {
    const int sig = static_cast<int>(num(2));
    signal(sig, SIG_DFL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    sigprocmask(SIG_UNBLOCK, &set, nullptr);
    raise(sig);
    return 6;
  }
  if (mode == "sleep") {
    sleep_ms(num(2));
    return 0;
  }
  if (mode == "ignore-term") {
    signal(SIGTERM, SIG_IGN);
    sleep_ms(num(2));
    return 0;
  }
  if (mode == "write-then-echo") {
    const long n = num(2);
    if (!write_pattern(1, n) || !write_pattern(2, n)) return 4;
    return echo();
  }
  if (mode == "spew") {
    return write_pattern(1, num(2)) && write_pattern(2, num(3)) ? 0 : 4;
  }
  if (mode == "interleave") {
    for (long i = 0; i < num(2); ++i) {
      const std::string o = "o" + std::to_string(i) + "\n";
      const std::string e = "e" + std::to_string(i) + "\n";
      if (!write_all(1, o.data(), o.size()) || !write_all(2, e.data(), e.size())) return 4;
    }
    return 0;
  }
  if (mode == "echo-err") return echo(2);
  if (mode == "ignore-stdin") return 0;
  if (mode == "read-some") {
    const long n = num(2);
    std::string got;
    char buf[65536];
    while (static_cast<long>(got.size()) < n) {
      const size_t want = static_cast<size_t>(n) - got.size();
      const ssize_t r = read(0, buf, want < sizeof buf ? want : sizeof buf);
      if (r == 0) break;
      if (r < 0) {
        if (errno == EINTR) continue;
        return 3;
      }
      got.append(buf, static_cast<size_t>(r));
    }
    close(0);
    return write_str(got) ? 0 : 4;
  }
  if (mode == "traced-sleep") {
    int ready[2];
    if (pipe(ready) != 0) return 5;
    const pid_t me = getpid();
    const pid_t tracer = fork();
    if (tracer < 0) return 5;
    if (tracer == 0) {
      close(ready[0]);
      (void)setpgid(0, 0);  // a group kill of our caller's must not end the tracer
      const int null = open("/dev/null", O_RDWR);
      for (int fd = 0; fd < 3; ++fd) (void)dup2(null, fd);  // keep none of the caller's pipes
      if (ptrace(PTRACE_SEIZE, me, nullptr, nullptr) != 0) _exit(7);
      (void)write(ready[1], "x", 1);
      sleep_ms(num(2));  // no waitpid: the tracee's death is reported to nobody
      _exit(0);
    }
    close(ready[1]);
    char byte = 0;
    if (read(ready[0], &byte, 1) != 1) return 7;
    close(ready[0]);
    if (!write_str("traced by " + std::to_string(tracer) + "\n")) return 4;
    sleep_ms(num(3));
    return 0;
  }
  if (mode == "leave-group") {
    if (setpgid(0, getpgid(getppid())) != 0) return 5;
    if (!write_str("left\n")) return 4;
    sleep_ms(num(2));
    return 0;
  }
  if (mode == "daemon") {
    const long ms = num(2);
    const pid_t pid = fork();
    if (pid < 0) return 5;
    if (pid == 0) {
      // The grandchild keeps stdout/stderr open and stays in our process
      // group, as a naive daemon does; bounded so tests leave nothing behind.
      sleep_ms(ms);
      _exit(0);
    }
    return 0;
  }
  return usage();
}
