// safeexec-test-child (Windows) - the program the Windows suite starts. Each
// mode does one observable thing. Plain Win32, no safeexec code, so it cannot
// hide a library defect. Output goes through WriteFile on the standard
// handles (and the CRT's stdio is in binary mode), so no "\n" -> "\r\n".
//
//   echo                 copy stdin to stdout until EOF
//   argv ARG...          write each argument as the C runtime split it
//                        (__wargv, UTF-8) followed by a NUL byte
//   cmdline              write GetCommandLineW() (UTF-8)
//   argv0                write argv[0] as the C runtime split it and this
//                        program's path (GetModuleFileNameW), UTF-8, each
//                        followed by a NUL byte
//   env                  write each environment entry followed by NUL
//   has-handle V         write "1" if handle value V is open here, else "0"
//   cwd                  write the working directory
//   pid                  write the process id
//   exit N               exit with code N
//   sleep MS             sleep MS milliseconds, then exit 0
//   job-flags-after MS FILE  sleep MS, then write the LimitFlags of our own job
//                        (decimal, or "error") to FILE
//   spew OUT ERR         write OUT bytes to stdout and ERR to stderr (stdin unread)
//   interleave N         write "o<i>\n" to stdout then "e<i>\n" to stderr, i = 0..N-1
//   ignore-stdin         exit 0 at once, stdin unread
//   write-then-echo N    write N pattern bytes (pattern()) to stdout, then to
//                        stderr, then copy stdin to stdout until EOF
//   slow-echo MS         echo, sleeping MS milliseconds before each read
//   split-lines MS       write "first-ha", sleep MS, write "lf\nsecond\n"
//   in-job               write "1" if this process is in a job object, else "0"
//                        (its first action: run before anything could assign it)
//   grandchild MS        start "sleep MS" as a child of its own, write its pid
//                        and a newline, then sleep MS too
//   burn MS              use MS ms of user-mode CPU time (as this process's own
//                        GetProcessTimes counts it), then exit 0
//   spawn-count N MS     start N copies of "sleep MS", wait 300 ms, write how
//                        many of them are still running
//   alloc MIB            commit and touch MIB MiB; write "allocated" or "refused"
#include <fcntl.h>
#include <io.h>
#include <windows.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

std::string utf8(const wchar_t* w) {
  const int n = WideCharToMultiByte(CP_UTF8, 0, w, -1, nullptr, 0, nullptr, nullptr);
  if (n <= 1) return {};
  std::string out(static_cast<std::size_t>(n), '\0');
  WideCharToMultiByte(CP_UTF8, 0, w, -1, out.data(), n, nullptr, nullptr);
  out.pop_back();
  return out;
}

bool write_all(DWORD which, const char* data, std::size_t n) {
  HANDLE h = GetStdHandle(which);
  while (n > 0) {
    DWORD done = 0;
    const DWORD chunk = n > (1u << 20) ? (1u << 20) : static_cast<DWORD>(n);
    if (!WriteFile(h, data, chunk, &done, nullptr)) return false;
    data += done;
    n -= done;
  }
  return true;
}

bool out(const std::string& s) {
  return write_all(STD_OUTPUT_HANDLE, s.data(), s.size());
}

// Byte i of the pattern the streaming tests check (test_win_step.cpp).
std::string pattern(std::size_t n) {
  std::string p(n, '\0');
  for (std::size_t i = 0; i < n; ++i) p[i] = static_cast<char>(i * 7 % 251 + 1);
  return p;
}

int echo(DWORD pause_ms = 0) {
  static char buf[65536];
  HANDLE in = GetStdHandle(STD_INPUT_HANDLE);
  for (;;) {
    if (pause_ms > 0) Sleep(pause_ms);
    DWORD n = 0;
    if (!ReadFile(in, buf, sizeof buf, &n, nullptr) || n == 0) return 0;  // EOF or broken pipe
    if (!write_all(STD_OUTPUT_HANDLE, buf, n)) return 3;
  }
}

int spew(std::size_t n_out, std::size_t n_err) {
  const std::string o(n_out, 'o');
  const std::string e(n_err, 'e');
  return write_all(STD_OUTPUT_HANDLE, o.data(), o.size()) &&
                 write_all(STD_ERROR_HANDLE, e.data(), e.size())
             ? 0
             : 3;
}

// Starts this program again as "sleep <ms>"; with `share_stdio`, the copy
// inherits this process's stdout and stderr. Its pid, or 0 on failure.
DWORD start_sleeping_copy(const wchar_t* ms, bool share_stdio) {
  wchar_t self[MAX_PATH];
  GetModuleFileNameW(nullptr, self, MAX_PATH);
  std::wstring cmd = L"\"" + std::wstring(self) + L"\" sleep " + ms;
  STARTUPINFOW si{};
  si.cb = sizeof si;
  if (share_stdio) {
    si.dwFlags = STARTF_USESTDHANDLES;
    si.hStdInput = nullptr;
    si.hStdOutput = GetStdHandle(STD_OUTPUT_HANDLE);
    si.hStdError = GetStdHandle(STD_ERROR_HANDLE);
  }
  PROCESS_INFORMATION pi{};
  if (!CreateProcessW(self, cmd.data(), nullptr, nullptr, share_stdio ? TRUE : FALSE, 0, nullptr,
                      nullptr, &si, &pi)) {
    return 0;
  }
  CloseHandle(pi.hThread);
  CloseHandle(pi.hProcess);
  return pi.dwProcessId;
}

int grandchild(const wchar_t* ms) {
  const DWORD pid = start_sleeping_copy(ms, false);
  if (pid == 0) return 4;
  out(std::to_string(pid) + "\n");
  Sleep(static_cast<DWORD>(_wtoi(ms)));
  return 0;
}

// Starts a grandchild that inherits this process's stdout and stderr and
// sleeps `ms`, writes a line, and exits 0 at once: the pipes outlive the
// child (a background job holding them), which execute()'s linger ends.
int hold_pipes(const wchar_t* ms) {
  if (start_sleeping_copy(ms, true) == 0) return 4;
  return out("child done\n") ? 0 : 3;
}

// User-mode CPU time this process has used, in ms.
unsigned long long own_user_ms() {
  FILETIME created{}, exited{}, kernel{}, user{};
  GetProcessTimes(GetCurrentProcess(), &created, &exited, &kernel, &user);
  return ((static_cast<unsigned long long>(user.dwHighDateTime) << 32) | user.dwLowDateTime) /
         10000;
}

int burn(unsigned long long ms) {
  volatile unsigned long long x = 0;
  while (own_user_ms() < ms) {
    for (int i = 0; i < 1000000; ++i) x = x + static_cast<unsigned long long>(i);
  }
  return 0;
}

int spawn_count(int n, const wchar_t* ms) {
  wchar_t self[MAX_PATH];
  GetModuleFileNameW(nullptr, self, MAX_PATH);
  std::wstring cmd = L"\"" + std::wstring(self) + L"\" sleep " + ms;
  HANDLE started[64];
  int made = 0;
  for (int i = 0; i < n && made < 64; ++i) {
    STARTUPINFOW si{};
    si.cb = sizeof si;
    PROCESS_INFORMATION pi{};
    std::wstring line = cmd;
    if (!CreateProcessW(self, line.data(), nullptr, nullptr, FALSE, 0, nullptr, nullptr, &si,
                        &pi)) {
      continue;
    }
    CloseHandle(pi.hThread);
    started[made++] = pi.hProcess;
  }
  Sleep(300);
  int running = 0;
  for (int i = 0; i < made; ++i) {
    if (WaitForSingleObject(started[i], 0) == WAIT_TIMEOUT) ++running;
    CloseHandle(started[i]);
  }
  return out(std::to_string(running)) ? 0 : 3;
}

int alloc(SIZE_T mib) {
  const SIZE_T n = mib << 20;
  auto* p = static_cast<char*>(VirtualAlloc(nullptr, n, MEM_COMMIT | MEM_RESERVE, PAGE_READWRITE));
  if (p == nullptr) return out("refused") ? 0 : 3;
  for (SIZE_T i = 0; i < n; i += 4096) p[i] = 1;
  return out("allocated") ? 0 : 3;
}

}  // namespace

int wmain(int argc, wchar_t** argv) {
  _setmode(_fileno(stdin), _O_BINARY);
  _setmode(_fileno(stdout), _O_BINARY);
  _setmode(_fileno(stderr), _O_BINARY);
  if (argc < 2) return 2;
  if (std::wstring(argv[1]) == L"in-job") {
    BOOL in = FALSE;
    (void)IsProcessInJob(GetCurrentProcess(), nullptr, &in);
    return out(in ? "1" : "0") ? 0 : 3;
  }
  const std::wstring mode = argv[1];
  if (mode == L"echo") return echo();
  if (mode == L"argv") {
    std::string all;
    for (int i = 2; i < argc; ++i) {
      all += utf8(argv[i]);
      all.push_back('\0');
    }
    return out(all) ? 0 : 3;
  }
  if (mode == L"cmdline") return out(utf8(GetCommandLineW())) ? 0 : 3;
  if (mode == L"argv0") {
    wchar_t self[MAX_PATH];
    const DWORD n = GetModuleFileNameW(nullptr, self, MAX_PATH);
    if (n == 0 || n >= MAX_PATH) return 4;
    std::string all = utf8(argv[0]);
    all.push_back('\0');
    all += utf8(self);
    all.push_back('\0');
    return out(all) ? 0 : 3;
  }
  if (mode == L"env") {
    wchar_t* block = GetEnvironmentStringsW();
    std::string all;
    for (const wchar_t* p = block; *p != L'\0'; p += wcslen(p) + 1) {
      all += utf8(p);
      all.push_back('\0');
    }
    FreeEnvironmentStringsW(block);
    return out(all) ? 0 : 3;
  }
  if (mode == L"has-handle" && argc > 2) {
    DWORD flags = 0;
    const auto v = static_cast<ULONG_PTR>(_wcstoui64(argv[2], nullptr, 10));
    return out(GetHandleInformation(reinterpret_cast<HANDLE>(v), &flags) ? "1" : "0") ? 0 : 3;
  }
  if (mode == L"cwd") {
    wchar_t buf[32768];
    GetCurrentDirectoryW(32768, buf);
    return out(utf8(buf)) ? 0 : 3;
  }
  if (mode == L"pid") return out(std::to_string(GetCurrentProcessId())) ? 0 : 3;
  if (mode == L"exit" && argc > 2) return _wtoi(argv[2]);
  if (mode == L"sleep" && argc > 2) {
    Sleep(static_cast<DWORD>(_wtoi(argv[2])));
    return 0;
  }
  if (mode == L"job-flags-after" && argc > 3) {
    // The limit flags of the job this process is in (a null handle asks for
    // our own job), written to FILE after MS ms: a detached child reports
    // what its parent's handle left it.
    Sleep(static_cast<DWORD>(_wtoi(argv[2])));
    JOBOBJECT_EXTENDED_LIMIT_INFORMATION info{};
    std::string text = "error";
    if (QueryInformationJobObject(nullptr, JobObjectExtendedLimitInformation, &info, sizeof info,
                                  nullptr)) {
      text = std::to_string(info.BasicLimitInformation.LimitFlags);
    }
    HANDLE f = CreateFileW(argv[3], GENERIC_WRITE, 0, nullptr, CREATE_ALWAYS, 0, nullptr);
    if (f == INVALID_HANDLE_VALUE) return 4;
    DWORD done = 0;
    const BOOL ok = WriteFile(f, text.data(), static_cast<DWORD>(text.size()), &done, nullptr);
    CloseHandle(f);
    return ok ? 0 : 3;
  }
  if (mode == L"spew" && argc > 3) {
    return spew(static_cast<std::size_t>(_wtoi64(argv[2])),
                static_cast<std::size_t>(_wtoi64(argv[3])));
  }
  if (mode == L"interleave" && argc > 2) {
    for (int i = 0; i < _wtoi(argv[2]); ++i) {
      const std::string o = "o" + std::to_string(i) + "\n";
      const std::string e = "e" + std::to_string(i) + "\n";
      if (!write_all(STD_OUTPUT_HANDLE, o.data(), o.size()) ||
          !write_all(STD_ERROR_HANDLE, e.data(), e.size())) {
        return 3;
      }
    }
    return 0;
  }
  if (mode == L"ignore-stdin") return 0;
  if (mode == L"write-then-echo" && argc > 2) {
    const std::string p = pattern(static_cast<std::size_t>(_wtoi64(argv[2])));
    if (!write_all(STD_OUTPUT_HANDLE, p.data(), p.size()) ||
        !write_all(STD_ERROR_HANDLE, p.data(), p.size())) {
      return 3;
    }
    return echo();
  }
  if (mode == L"slow-echo" && argc > 2) return echo(static_cast<DWORD>(_wtoi(argv[2])));
  if (mode == L"split-lines" && argc > 2) {
    if (!out("first-ha")) return 3;
    Sleep(static_cast<DWORD>(_wtoi(argv[2])));
    return out("lf\nsecond\n") ? 0 : 3;
  }
  if (mode == L"grandchild" && argc > 2) return grandchild(argv[2]);
  if (mode == L"hold-pipes" && argc > 2) return hold_pipes(argv[2]);
  if (mode == L"burn" && argc > 2) return burn(_wcstoui64(argv[2], nullptr, 10));
  if (mode == L"spawn-count" && argc > 3) return spawn_count(_wtoi(argv[2]), argv[3]);
  if (mode == L"alloc" && argc > 2) return alloc(static_cast<SIZE_T>(_wtoi64(argv[2])));
  return 2;
}
