// wine_job_probe - what this Windows (or Wine) does with job-object limits
// and usage counters: the facts test_win_containment's skips rest on.
// Plain Win32, no safeexec code. Run it where the suite runs, e.g.
//   wine build/ci-windows/bin/wine_job_probe.exe
// It starts copies of itself (modes below) in jobs and prints one line per
// fact. Not a test: it asserts nothing, it reports.
//   burn MS     use MS ms of user CPU time (own GetProcessTimes), exit 0
//   spawn       start "sleep", exit 0 if CreateProcess succeeded, 10 if not
//   sleep       sleep 100 ms
//   alloc MIB   commit and touch MIB MiB: exit 0, or 20 if refused
#include <windows.h>
// psapi.h needs windows.h first.
#include <psapi.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

unsigned long long us(FILETIME t) {
  return ((static_cast<unsigned long long>(t.dwHighDateTime) << 32) | t.dwLowDateTime) / 10;
}

unsigned long long own_user_us() {
  FILETIME c{}, e{}, k{}, u{};
  GetProcessTimes(GetCurrentProcess(), &c, &e, &k, &u);
  return us(u);
}

HANDLE start_suspended(const std::string& args, HANDLE* thread) {
  char self[MAX_PATH];
  GetModuleFileNameA(nullptr, self, MAX_PATH);
  std::string cmd = std::string("\"") + self + "\" " + args;
  STARTUPINFOA si{};
  si.cb = sizeof si;
  PROCESS_INFORMATION pi{};
  if (!CreateProcessA(self, cmd.data(), nullptr, nullptr, FALSE, CREATE_SUSPENDED, nullptr, nullptr,
                      &si, &pi)) {
    std::printf("  CreateProcess failed: %lu\n", GetLastError());
    return nullptr;
  }
  *thread = pi.hThread;
  return pi.hProcess;
}

/// A job with kill-on-close plus `flags`; prints what Set said and what
/// Query reads back.
HANDLE job_with(const char* what, DWORD flags, JOBOBJECT_EXTENDED_LIMIT_INFORMATION li) {
  HANDLE job = CreateJobObjectW(nullptr, nullptr);
  li.BasicLimitInformation.LimitFlags = flags | JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
  const BOOL ok = SetInformationJobObject(job, JobObjectExtendedLimitInformation, &li, sizeof li);
  std::printf("%s: SetInformationJobObject %s (error %lu)\n", what, ok ? "ok" : "FAILED",
              ok ? 0 : GetLastError());
  JOBOBJECT_EXTENDED_LIMIT_INFORMATION back{};
  if (QueryInformationJobObject(job, JobObjectExtendedLimitInformation, &back, sizeof back,
                                nullptr)) {
    std::printf(
        "  read back: flags 0x%lx active %lu process memory %llu job memory %llu "
        "process time %lld job time %lld\n",
        back.BasicLimitInformation.LimitFlags, back.BasicLimitInformation.ActiveProcessLimit,
        static_cast<unsigned long long>(back.ProcessMemoryLimit),
        static_cast<unsigned long long>(back.JobMemoryLimit),
        back.BasicLimitInformation.PerProcessUserTimeLimit.QuadPart,
        back.BasicLimitInformation.PerJobUserTimeLimit.QuadPart);
  }
  return job;
}

/// Runs "args" in `job`; prints its exit, its times while running and
/// after, its memory counters and the job's accounting.
void run_in(HANDLE job, const std::string& args, DWORD wait_ms = 10000) {
  HANDLE thread = nullptr;
  HANDLE p = start_suspended(args, &thread);
  if (p == nullptr) return;
  if (!AssignProcessToJobObject(job, p)) std::printf("  assign failed: %lu\n", GetLastError());
  ResumeThread(thread);
  CloseHandle(thread);
  Sleep(50);
  FILETIME c{}, e{}, k{}, u{};
  GetProcessTimes(p, &c, &e, &k, &u);
  std::printf("  child '%s' running: user %llu us kernel %llu us\n", args.c_str(), us(u), us(k));
  const DWORD w = WaitForSingleObject(p, wait_ms);
  if (w != WAIT_OBJECT_0) TerminateProcess(p, 77);
  DWORD code = 0;
  GetExitCodeProcess(p, &code);
  std::printf("  %s, exit code %lu\n", w == WAIT_OBJECT_0 ? "ended" : "still running at the bound",
              code);
  GetProcessTimes(p, &c, &e, &k, &u);
  std::printf("  after exit: user %llu us kernel %llu us\n", us(u), us(k));
  PROCESS_MEMORY_COUNTERS pmc{};
  pmc.cb = sizeof pmc;
  if (K32GetProcessMemoryInfo(p, &pmc, sizeof pmc)) {
    std::printf("  peak working set %llu\n",
                static_cast<unsigned long long>(pmc.PeakWorkingSetSize));
  } else {
    std::printf("  GetProcessMemoryInfo failed: %lu\n", GetLastError());
  }
  JOBOBJECT_BASIC_ACCOUNTING_INFORMATION acc{};
  if (QueryInformationJobObject(job, JobObjectBasicAccountingInformation, &acc, sizeof acc,
                                nullptr)) {
    std::printf("  job: user %lld us kernel %lld us, %lu processes, %lu active\n",
                acc.TotalUserTime.QuadPart / 10, acc.TotalKernelTime.QuadPart / 10,
                acc.TotalProcesses, acc.ActiveProcesses);
  }
  JOBOBJECT_EXTENDED_LIMIT_INFORMATION li{};
  if (QueryInformationJobObject(job, JobObjectExtendedLimitInformation, &li, sizeof li, nullptr)) {
    std::printf("  job: peak process memory %llu, peak job memory %llu\n",
                static_cast<unsigned long long>(li.PeakProcessMemoryUsed),
                static_cast<unsigned long long>(li.PeakJobMemoryUsed));
  }
  CloseHandle(p);
}

int child(int argc, char** argv) {
  const std::string mode = argv[1];
  if (mode == "burn" && argc > 2) {
    const unsigned long long until = std::strtoull(argv[2], nullptr, 10) * 1000;
    volatile unsigned long long x = 0;
    while (own_user_us() < until) {
      for (int i = 0; i < 1000000; ++i) x = x + static_cast<unsigned long long>(i);
    }
    return 0;
  }
  if (mode == "spawn") {
    HANDLE t = nullptr;
    HANDLE p = start_suspended("sleep", &t);
    if (p == nullptr) return 10;
    ResumeThread(t);
    WaitForSingleObject(p, INFINITE);
    return 0;
  }
  if (mode == "sleep") {
    Sleep(100);
    return 0;
  }
  if (mode == "alloc" && argc > 2) {
    const SIZE_T n = static_cast<SIZE_T>(std::strtoull(argv[2], nullptr, 10)) << 20;
    auto* v =
        static_cast<char*>(VirtualAlloc(nullptr, n, MEM_COMMIT | MEM_RESERVE, PAGE_READWRITE));
    if (v == nullptr) return 20;
    for (SIZE_T i = 0; i < n; i += 4096) v[i] = 1;
    return 0;
  }
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1) return child(argc, argv);
  JOBOBJECT_EXTENDED_LIMIT_INFORMATION li{};
  HANDLE j = job_with("no limit, 600 ms of CPU", 0, li);
  run_in(j, "burn 600");
  CloseHandle(j);
  li = {};
  li.BasicLimitInformation.ActiveProcessLimit = 1;
  j = job_with("1 active process, the child starts another", JOB_OBJECT_LIMIT_ACTIVE_PROCESS, li);
  run_in(j, "spawn");
  CloseHandle(j);
  li = {};
  li.JobMemoryLimit = 16u << 20;
  j = job_with("16 MiB job memory, 64 MiB committed", JOB_OBJECT_LIMIT_JOB_MEMORY, li);
  run_in(j, "alloc 64");
  CloseHandle(j);
  li = {};
  li.ProcessMemoryLimit = 16u << 20;
  j = job_with("16 MiB process memory, 64 MiB committed", JOB_OBJECT_LIMIT_PROCESS_MEMORY, li);
  run_in(j, "alloc 64");
  CloseHandle(j);
  li = {};
  li.BasicLimitInformation.PerProcessUserTimeLimit.QuadPart = 100 * 10000;
  j = job_with("100 ms process user time, 3 s burnt", JOB_OBJECT_LIMIT_PROCESS_TIME, li);
  run_in(j, "burn 3000", 6000);
  CloseHandle(j);
  li = {};
  li.BasicLimitInformation.PerJobUserTimeLimit.QuadPart = 100 * 10000;
  j = job_with("100 ms job user time, 3 s burnt", JOB_OBJECT_LIMIT_JOB_TIME, li);
  run_in(j, "burn 3000", 6000);
  CloseHandle(j);
  li = {};
  CloseHandle(job_with("unknown flag bits", 0x7fffffff, li));
  j = CreateJobObjectW(nullptr, nullptr);
  JOBOBJECT_CPU_RATE_CONTROL_INFORMATION r{};
  r.ControlFlags = JOB_OBJECT_CPU_RATE_CONTROL_ENABLE | JOB_OBJECT_CPU_RATE_CONTROL_HARD_CAP;
  r.CpuRate = 5000;
  const BOOL ok = SetInformationJobObject(j, JobObjectCpuRateControlInformation, &r, sizeof r);
  std::printf("CPU rate hard cap 50%%: SetInformationJobObject %s (error %lu)\n",
              ok ? "ok" : "FAILED", ok ? 0 : GetLastError());
  CloseHandle(j);
  return 0;
}
