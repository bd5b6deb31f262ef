// safeexec-fuzz-child - the spawning fuzz targets' child: the modes of
// core/tests/helper/safeexec_test_child.cpp that fuzz_argv and
// fuzz_process_input use, with the same observable behaviour, but without
// any C library. Freestanding: its own _start and raw system calls.
//
// Why: a static glibc program spends about 0.6 ms of CPU before main() on
// this VM (its start-up reads the CPU's cache layout with cpuid, which traps
// to the hypervisor), against 0.02 ms for a program without libc; that
// start-up was a large share of every input of a spawning target.
//
//   argv ARG...          write each ARG followed by a NUL byte, exit 0
//   echo                 copy stdin to stdout until EOF
//   write-then-echo N    write N pattern bytes to stdout and N to stderr, then echo
//   read-some N          read N bytes of stdin (less at EOF), close it, write them
//   ignore-stdin         exit 0 at once, stdin unread
//   exit N               exit with code N
//   signal N             die by signal N
//   sleep MS             sleep MS milliseconds, then exit 0
// Anything else: "safeexec-test-child: bad mode or arguments" on stderr, exit
// 64, as the full helper does. x86-64 and AArch64 only (CMake and build.sh
// fall back to the full helper elsewhere).

namespace {

using Size = unsigned long;

#if defined(__x86_64__)
enum : long {
  kRead = 0,
  kWrite = 1,
  kClose = 3,
  kSigaction = 13,
  kSigprocmask = 14,
  kNanosleep = 35,
  kGetpid = 39,
  kKill = 62,
  kExitGroup = 231
};

long sys(long n, long a = 0, long b = 0, long c = 0, long d = 0) {
  long ret;
  register long r10 __asm__("r10") = d;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10)
                   : "rcx", "r11", "memory");
  return ret;
}
#elif defined(__aarch64__)
enum : long {
  kRead = 63,
  kWrite = 64,
  kClose = 57,
  kSigaction = 134,
  kSigprocmask = 135,
  kNanosleep = 101,
  kGetpid = 172,
  kKill = 129,
  kExitGroup = 94
};

long sys(long n, long a = 0, long b = 0, long c = 0, long d = 0) {
  register long x8 __asm__("x8") = n;
  register long x0 __asm__("x0") = a;
  register long x1 __asm__("x1") = b;
  register long x2 __asm__("x2") = c;
  register long x3 __asm__("x3") = d;
  __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3) : "memory");
  return x0;
}
#else
#error "safeexec-fuzz-child: x86-64 and AArch64 only"
#endif

constexpr long kEintr = -4;
constexpr Size kPatternBlock = 65536;
// read-some holds what it read until stdin is closed: the fuzz targets ask
// for at most 1 MiB + 4 KiB + 1 bytes.
constexpr Size kReadSomeMax = 2UL << 20;

char g_buf[kPatternBlock];
char g_held[kReadSomeMax];

[[noreturn]] void exit_group(long code) {
  for (;;) sys(kExitGroup, code);
}

bool write_all(int fd, const char* data, Size n) {
  while (n > 0) {
    const long w = sys(kWrite, fd, reinterpret_cast<long>(data), static_cast<long>(n));
    if (w == kEintr) continue;
    if (w < 0) return false;
    data += w;
    n -= static_cast<Size>(w);
  }
  return true;
}

Size length(const char* s) {
  Size n = 0;
  while (s[n] != '\0') ++n;
  return n;
}

bool same(const char* a, const char* b) {
  while (*a != '\0' && *a == *b) {
    ++a;
    ++b;
  }
  return *a == *b;
}

// strtol(s, nullptr, 10) for what the targets pass; -1 when missing.
long number(int argc, char** argv, int i) {
  if (i >= argc) return -1;
  const char* s = argv[i];
  bool negative = false;
  if (*s == '-' || *s == '+') negative = *s++ == '-';
  long v = 0;
  while (*s >= '0' && *s <= '9') v = v * 10 + (*s++ - '0');
  return negative ? -v : v;
}

int echo() {
  for (;;) {
    const long n = sys(kRead, 0, reinterpret_cast<long>(g_buf), static_cast<long>(sizeof g_buf));
    if (n == 0) return 0;
    if (n == kEintr) continue;
    if (n < 0) return 3;
    if (!write_all(1, g_buf, static_cast<Size>(n))) return 4;
  }
}

// Byte j of the pattern is 'a' + (j % 65536) % 26, as the full helper writes.
bool write_pattern(int fd, long n) {
  for (Size i = 0; i < kPatternBlock; ++i) g_buf[i] = static_cast<char>('a' + i % 26);
  while (n > 0) {
    const Size k = n < static_cast<long>(kPatternBlock) ? static_cast<Size>(n) : kPatternBlock;
    if (!write_all(fd, g_buf, k)) return false;
    n -= static_cast<long>(k);
  }
  return true;
}

int die_by(long sig) {
  // SIG_DFL, and unblocked: struct kernel_sigaction is {handler, flags,
  // restorer, mask}; all zero is SIG_DFL with no flags.
  long action[4] = {0, 0, 0, 0};
  sys(kSigaction, sig, reinterpret_cast<long>(action), 0, 8);
  unsigned long set = sig >= 1 && sig <= 64 ? 1UL << (sig - 1) : 0;
  sys(kSigprocmask, 1 /* SIG_UNBLOCK */, reinterpret_cast<long>(&set), 0, 8);
  sys(kKill, sys(kGetpid), sig);
  return 6;
}

void sleep_ms(long ms) {
  if (ms <= 0) return;
  long ts[2] = {ms / 1000, (ms % 1000) * 1000000};
  while (sys(kNanosleep, reinterpret_cast<long>(ts), reinterpret_cast<long>(ts)) == kEintr) {
  }
}

int read_some(long n) {
  if (n < 0) n = 0;
  if (static_cast<Size>(n) > kReadSomeMax) return 64;
  Size got = 0;
  while (got < static_cast<Size>(n)) {
    const long r = sys(kRead, 0, reinterpret_cast<long>(g_held + got), n - static_cast<long>(got));
    if (r == 0) break;
    if (r == kEintr) continue;
    if (r < 0) return 3;
    got += static_cast<Size>(r);
  }
  sys(kClose, 0);
  return write_all(1, g_held, got) ? 0 : 4;
}

int usage() {
  static const char kUsage[] = "safeexec-test-child: bad mode or arguments\n";
  write_all(2, kUsage, sizeof kUsage - 1);
  return 64;
}

int run(int argc, char** argv) {
  if (argc < 2) return usage();
  const char* mode = argv[1];
  if (same(mode, "argv")) {
    for (int i = 2; i < argc; ++i) {
      if (!write_all(1, argv[i], length(argv[i]) + 1)) return 4;
    }
    return 0;
  }
  if (same(mode, "echo")) return echo();
  if (same(mode, "write-then-echo")) {
    const long n = number(argc, argv, 2);
    if (!write_pattern(1, n) || !write_pattern(2, n)) return 4;
    return echo();
  }
  if (same(mode, "read-some")) return read_some(number(argc, argv, 2));
  if (same(mode, "ignore-stdin")) return 0;
  if (same(mode, "exit")) return static_cast<int>(number(argc, argv, 2));
  if (same(mode, "signal")) return die_by(number(argc, argv, 2));
  if (same(mode, "sleep")) {
    sleep_ms(number(argc, argv, 2));
    return 0;
  }
  return usage();
}

}  // namespace

// The kernel's entry: argc at the stack pointer, argv right after it.
extern "C" [[noreturn]] __attribute__((used)) void safeexec_fuzz_child_start(long* sp) {
  exit_group(run(static_cast<int>(sp[0]), reinterpret_cast<char**>(sp + 1)));
}

#if defined(__x86_64__)
__asm__(
    ".text\n.global _start\n_start:\n"
    "  xor %rbp, %rbp\n  mov %rsp, %rdi\n  and $-16, %rsp\n"
    "  call safeexec_fuzz_child_start\n  hlt\n");
#else
__asm__(
    ".text\n.global _start\n_start:\n"
    "  mov x29, #0\n  mov x0, sp\n  bl safeexec_fuzz_child_start\n");
#endif
