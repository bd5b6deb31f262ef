// detach.cpp - Process::detach() on Windows: the handle gives its child up
// on purpose. The job was made with KILL_ON_JOB_CLOSE, so closing our job
// handle would end the child and everything it started: the flag is cleared
// first (the job's other limits stay in force), then every handle is closed.
// There is no zombie to reap on Windows.
#include <windows.h>

#include "process_access.hpp"
#include "process_state.hpp"
#include "safeexec/errors.hpp"
#include "safeexec/process.hpp"
#include "win_util.hpp"

namespace safeexec::detail {

pid_t release_child(ProcessState& s) {
  const pid_t pid = s.pid;
  if (s.job != nullptr) {
    HANDLE job = static_cast<HANDLE>(s.job);
    JOBOBJECT_EXTENDED_LIMIT_INFORMATION limits{};
    if (!::QueryInformationJobObject(job, JobObjectExtendedLimitInformation, &limits, sizeof limits,
                                     nullptr)) {
      throw IoError("detach: cannot read the job's limits", int(::GetLastError()));
    }
    limits.BasicLimitInformation.LimitFlags &= ~DWORD{JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE};
    if (!::SetInformationJobObject(job, JobObjectExtendedLimitInformation, &limits,
                                   sizeof limits)) {
      // Still owned: the handle's destructor kills it as before.
      throw IoError("detach: cannot clear the job's kill-on-close", int(::GetLastError()));
    }
    ::CloseHandle(job);
    s.job = nullptr;
  }
  s.close_pipes();
  if (s.process != nullptr) ::CloseHandle(static_cast<HANDLE>(s.process));
  s.process = nullptr;
  return pid;
}

}  // namespace safeexec::detail
