// spawn.cpp - create_process() on Windows.
//
//   1. Validate everything and build the environment block, the program's
//      absolute path and the command line - InvalidArgument before anything
//      exists.
//   2. The stdio plan (stdio_handles.cpp): pipes (parent ends overlapped),
//      NUL, files, non-inheritable duplicates of our own or the caller's
//      handles - none inheritable; refused plans throw InvalidArgument.
//   3. A job object with KILL_ON_JOB_CLOSE and the containment limits
//      (job_limits.cpp): all in place before the child exists.
//   4. Under one process-wide lock: make the (at most three) child handles
//      inheritable and start the child with CreateProcessW, suspended,
//      with PROC_THREAD_ATTRIBUTE_HANDLE_LIST naming exactly them - so no
//      other inheritable handle of this process leaks into it (F06).
//   5. Assign the child to the job while it is suspended, then resume it:
//      nothing it starts can run outside the job.
// Every failure after step 1 closes what was made and, when a child exists,
// terminates it before throwing SpawnError with the Win32 error and stage.
#include <windows.h>

#include <array>
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "env_block.hpp"
#include "job_limits.hpp"
#include "lookup.hpp"
#include "process_access.hpp"
#include "process_state.hpp"
#include "safeexec/errors.hpp"
#include "safeexec/process.hpp"
#include "stdio_handles.hpp"
#include "win_cmdline.hpp"
#include "win_util.hpp"

#ifdef SAFEEXEC_FAULT_INJECTION
#include <functional>

#include "safeexec/testing/windows_hooks.hpp"

namespace safeexec::testing {
namespace {
std::function<void()>& after_create_hook() {
  static std::function<void()> hook;
  return hook;
}
}  // namespace
void set_after_create_hook(std::function<void()> hook) {
  after_create_hook() = std::move(hook);
}
}  // namespace safeexec::testing
#endif

namespace safeexec {
namespace {

using detail::win::UniqueHandle;

/// Serialises "make inheritable + CreateProcessW" across our own spawns, so
/// a concurrent spawn never sees another spawn's handles inheritable. An
/// SRW lock: no kernel object, nothing to create on first contention.
SRWLOCK g_inherit_lock = SRWLOCK_INIT;

class InheritLock {
 public:
  InheritLock() noexcept { ::AcquireSRWLockExclusive(&g_inherit_lock); }
  ~InheritLock() { ::ReleaseSRWLockExclusive(&g_inherit_lock); }
  InheritLock(const InheritLock&) = delete;
  InheritLock& operator=(const InheritLock&) = delete;
};

[[noreturn]] void fail(SpawnStage stage, DWORD error, const std::string& program) {
  throw SpawnError(stage, static_cast<int>(error), program);
}

/// argv with argv[0] replaced by SpawnOptions::argv0() when one is given.
std::vector<std::string> with_argv0(const std::vector<std::string>& argv,
                                    const SpawnOptions& options) {
  std::vector<std::string> shown = argv;
  if (options.argv0()) {
    if (options.argv0()->find('\0') != std::string::npos) {
      throw InvalidArgument("argv0 holds a NUL byte; the command line would be cut there");
    }
    shown[0] = *options.argv0();
  }
  return shown;
}

}  // namespace

Process create_process(std::vector<std::string> argv, const SpawnOptions& options) {
  namespace win = detail::win;
  // 1. Everything that can be refused is refused before anything exists.
  if (argv.empty()) throw InvalidArgument("argv is empty");
  if (argv[0].empty()) throw InvalidArgument("program name (argv[0]) is empty");
  if (!options.keep_fds().empty()) {
    throw InvalidArgument("keep_fd() is not supported on Windows (handles are not fds)");
  }
  const win::JobLimitPlan job_limits(options.containment());
  // inherit_env(): the parent's entries it keeps (names case-insensitively,
  // env.cpp); drive entries ("=C:=C:\\dir") only when everything is inherited.
  std::vector<std::string> parent_env;
  for (std::string& e : win::parent_environment_entries()) {
    const std::size_t eq = e.find('=', 1);
    const bool drive_entry = !e.empty() && e[0] == '=';
    const bool keep = drive_entry
                          ? options.inherit_env().inherits_everything()
                          : eq != std::string::npos &&
                                options.inherit_env().inherits(std::string_view(e).substr(0, eq));
    if (keep) parent_env.push_back(std::move(e));
  }
  std::wstring env_block =
      win::make_environment_block(parent_env, options.addl_env(), options.env_policy());
  // The child's entries, for PATH and PATHEXT.
  std::vector<std::string> child_env;
  for (const wchar_t* p = env_block.c_str(); *p != L'\0'; p += wcslen(p) + 1) {
    child_env.push_back(win::narrow(p, "environment entry"));
  }
  // SpawnOptions::argv0(): the first token the child reads; the program
  // run is still resolved from argv[0] below.
  std::wstring command_line =
      win::widen(win::make_command_line(with_argv0(argv, options)), "command line");
  const std::wstring cwd = win::widen(options.cwd(), "working directory");
  const std::string& program = argv[0];

  std::optional<std::wstring> exe =
      win::resolve_program(win::widen(program, "program"), child_env, cwd);
  if (!exe) fail(SpawnStage::exec, ERROR_FILE_NOT_FOUND, program);
  if (win::is_batch_file_name(win::narrow(*exe))) {
    if (options.argv0()) {
      throw InvalidArgument("argv0 cannot be given for a batch file: cmd.exe runs it by its path");
    }
    // cmd.exe runs batch files with rules of its own (BatBadBut): the line
    // is rendered for cmd, and cmd.exe itself comes from the system
    // directory, never from COMSPEC or PATH.
    wchar_t sys[MAX_PATH];
    const UINT n = ::GetSystemDirectoryW(sys, MAX_PATH);
    if (n == 0 || n >= MAX_PATH) fail(SpawnStage::exec, ::GetLastError(), program);
    const std::wstring cmd = std::wstring(sys, n) + L"\\cmd.exe";
    const std::vector<std::string> args(argv.begin() + 1, argv.end());
    command_line = win::widen(
        win::make_batch_command_line(win::narrow(cmd), win::narrow(*exe), args), "command line");
    exe = cmd;
  }
  if (!cwd.empty()) {
    const DWORD a = ::GetFileAttributesW(cwd.c_str());
    if (a == INVALID_FILE_ATTRIBUTES) fail(SpawnStage::chdir, ::GetLastError(), program);
    if ((a & FILE_ATTRIBUTE_DIRECTORY) == 0) fail(SpawnStage::chdir, ERROR_DIRECTORY, program);
  }

  // 2. The three streams.
  win::StdioHandles stdio = win::open_stdio(options, program);

  // 3. The job: closing its last handle kills every process in it; its
  // limits are set while it is empty.
  UniqueHandle job(::CreateJobObjectW(nullptr, nullptr));
  if (!job) fail(SpawnStage::process_group, ::GetLastError(), program);
  job_limits.apply(job.get(), program);

  // 4. The handle list: the distinct, real child handles, nothing else.
  std::vector<HANDLE> list;
  for (HANDLE h : stdio.child) {
    if (h == nullptr) continue;  // one NULL would make the whole list invalid
    bool seen = false;
    for (HANDLE x : list) seen = seen || x == h;
    if (!seen) list.push_back(h);
  }
  SIZE_T attr_size = 0;
  (void)::InitializeProcThreadAttributeList(nullptr, 1, 0, &attr_size);
  std::vector<unsigned char> attr_buf(attr_size);
  auto* attrs = reinterpret_cast<LPPROC_THREAD_ATTRIBUTE_LIST>(attr_buf.data());
  if (!::InitializeProcThreadAttributeList(attrs, 1, 0, &attr_size)) {
    fail(SpawnStage::stdio, ::GetLastError(), program);
  }
  struct AttrGuard {
    LPPROC_THREAD_ATTRIBUTE_LIST a;
    ~AttrGuard() { ::DeleteProcThreadAttributeList(a); }
  } attr_guard{attrs};
  if (!list.empty() &&
      !::UpdateProcThreadAttribute(attrs, 0, PROC_THREAD_ATTRIBUTE_HANDLE_LIST, list.data(),
                                   list.size() * sizeof(HANDLE), nullptr, nullptr)) {
    fail(SpawnStage::stdio, ::GetLastError(), program);
  }

  STARTUPINFOEXW si{};
  si.StartupInfo.cb = sizeof si;
  si.StartupInfo.dwFlags = STARTF_USESTDHANDLES;
  si.StartupInfo.hStdInput = stdio.child[0];
  si.StartupInfo.hStdOutput = stdio.child[1];
  si.StartupInfo.hStdError = stdio.child[2];
  si.lpAttributeList = attrs;

  DWORD flags = CREATE_SUSPENDED | CREATE_UNICODE_ENVIRONMENT | EXTENDED_STARTUPINFO_PRESENT;
  if (options.new_process_group()) flags |= CREATE_NEW_PROCESS_GROUP;
  PROCESS_INFORMATION pi{};
  {
    const InheritLock lock;
    for (HANDLE h : list) {
      if (!::SetHandleInformation(h, HANDLE_FLAG_INHERIT, HANDLE_FLAG_INHERIT)) {
        fail(SpawnStage::stdio, ::GetLastError(), program);
      }
    }
    const BOOL ok = ::CreateProcessW(exe->c_str(), command_line.data(), nullptr, nullptr,
                                     list.empty() ? FALSE : TRUE, flags, env_block.data(),
                                     cwd.empty() ? nullptr : cwd.c_str(), &si.StartupInfo, &pi);
    const DWORD error = ok ? 0 : ::GetLastError();
    // The child ends are closed below; until then they stay inheritable
    // only inside this lock.
    for (HANDLE h : list) (void)::SetHandleInformation(h, HANDLE_FLAG_INHERIT, 0);
    if (!ok) fail(SpawnStage::exec, error, program);
  }
  UniqueHandle process(pi.hProcess);
  UniqueHandle thread(pi.hThread);

#ifdef SAFEEXEC_FAULT_INJECTION
  if (testing::after_create_hook()) testing::after_create_hook()();
#endif
  // 5. Into the job while suspended, then run.
  auto abort_child = [&](SpawnStage stage, DWORD error) {
    (void)::TerminateProcess(process.get(), 1);
    (void)::WaitForSingleObject(process.get(), INFINITE);
    fail(stage, error, program);
  };
  if (!::AssignProcessToJobObject(job.get(), process.get())) {
    abort_child(SpawnStage::process_group, ::GetLastError());
  }
  if (::ResumeThread(thread.get()) == static_cast<DWORD>(-1)) {
    abort_child(SpawnStage::exec, ::GetLastError());
  }
  thread.reset();

  auto state = std::make_unique<detail::ProcessState>();
  state->pid = static_cast<pid_t>(pi.dwProcessId);
  state->process = process.release();
  state->job = job.release();
  state->stdin_fd = win::handle_to_int(stdio.parent[0].release());
  state->stdout_fd = win::handle_to_int(stdio.parent[1].release());
  state->stderr_fd = win::handle_to_int(stdio.parent[2].release());
  state->own_group = options.new_process_group();
  state->destroy_wait = options.destroy_wait();
  Process p = detail::ProcessAccess::make(std::move(state));
  return p;
}

}  // namespace safeexec
