// process_tree.cpp (Windows) - reading another process's command line and
// listing processes, without a shell or tasklist (F08).
#include "process_tree.hpp"

#include <tlhelp32.h>
#include <winternl.h>

#include <cstddef>

#include "safeexec/errors.hpp"
#include "win_cmdline.hpp"

namespace safeexec::detail::win {
namespace {

// Not in every winternl.h: the information class that returns the command
// line itself (Windows 8.1 and later), and the statuses we act on.
constexpr auto kProcessCommandLineInformation = static_cast<PROCESSINFOCLASS>(60);
constexpr NTSTATUS kStatusInvalidInfoClass = static_cast<NTSTATUS>(0xC0000003L);
constexpr NTSTATUS kStatusInfoLengthMismatch = static_cast<NTSTATUS>(0xC0000004L);
// A command line holds at most 32767 UTF-16 units.
constexpr std::size_t kMaxCommandLineBytes = 32768 * sizeof(wchar_t);

std::uint64_t ticks(const FILETIME& t) {
  return (static_cast<std::uint64_t>(t.dwHighDateTime) << 32) | t.dwLowDateTime;
}

/// ProcessCommandLineInformation: one call, no access to the process's
/// memory needed. nullopt with `unsupported` set where the class is not
/// known (Wine, Windows before 8.1).
std::optional<std::wstring> query_command_line(HANDLE process, bool& unsupported) {
  std::vector<unsigned char> buf(sizeof(UNICODE_STRING) + 512);
  for (int attempt = 0; attempt < 3; ++attempt) {
    ULONG needed = 0;
    const NTSTATUS st =
        ::NtQueryInformationProcess(process, kProcessCommandLineInformation, buf.data(),
                                    static_cast<ULONG>(buf.size()), &needed);
    if (st == kStatusInvalidInfoClass) {
      unsupported = true;
      return std::nullopt;
    }
    if (st == kStatusInfoLengthMismatch && needed > buf.size() &&
        needed <= sizeof(UNICODE_STRING) + kMaxCommandLineBytes) {
      buf.resize(needed);
      continue;
    }
    if (st < 0) return std::nullopt;
    const auto* s = reinterpret_cast<const UNICODE_STRING*>(buf.data());
    return std::wstring(s->Buffer, s->Length / sizeof(wchar_t));
  }
  return std::nullopt;
}

/// The classic way: the PEB's process parameters, read from the other
/// process's memory (needs PROCESS_VM_READ; the same bitness as ours).
std::optional<std::wstring> peb_command_line(HANDLE process) {
  PROCESS_BASIC_INFORMATION info{};
  ULONG got = 0;
  if (::NtQueryInformationProcess(process, ProcessBasicInformation, &info, sizeof info, &got) < 0 ||
      info.PebBaseAddress == nullptr) {
    return std::nullopt;
  }
  const auto read = [&](const void* at, void* into, std::size_t size) {
    SIZE_T n = 0;
    return ::ReadProcessMemory(process, at, into, size, &n) != 0 && n == size;
  };
  PEB peb{};
  RTL_USER_PROCESS_PARAMETERS params{};
  if (!read(info.PebBaseAddress, &peb, sizeof peb) || peb.ProcessParameters == nullptr ||
      !read(peb.ProcessParameters, &params, sizeof params)) {
    return std::nullopt;
  }
  const UNICODE_STRING& line = params.CommandLine;
  if (line.Length % sizeof(wchar_t) != 0 || line.Length > kMaxCommandLineBytes) return std::nullopt;
  std::wstring out(line.Length / sizeof(wchar_t), L'\0');
  if (!out.empty() && !read(line.Buffer, out.data(), line.Length)) return std::nullopt;
  return out;
}

}  // namespace

std::vector<ProcessEntry> snapshot_processes() {
  std::vector<ProcessEntry> out;
  UniqueHandle snap(::CreateToolhelp32Snapshot(TH32CS_SNAPPROCESS, 0));
  if (!snap) return out;
  PROCESSENTRY32W e{};
  e.dwSize = sizeof e;
  for (BOOL ok = ::Process32FirstW(snap.get(), &e); ok; ok = ::Process32NextW(snap.get(), &e)) {
    out.push_back({e.th32ProcessID, e.th32ParentProcessID});
  }
  return out;
}

std::optional<OpenedProcess> open_for_reading(DWORD pid) {
  UniqueHandle h(
      ::OpenProcess(SYNCHRONIZE | PROCESS_QUERY_LIMITED_INFORMATION | PROCESS_VM_READ, FALSE, pid));
  // A protected process refuses VM_READ; the command-line class needs less.
  if (!h)
    h = UniqueHandle(::OpenProcess(SYNCHRONIZE | PROCESS_QUERY_LIMITED_INFORMATION, FALSE, pid));
  if (!h) return std::nullopt;
  if (::WaitForSingleObject(h.get(), 0) == WAIT_OBJECT_0) return std::nullopt;  // exited
  FILETIME created{}, exited{}, kernel{}, user{};
  if (!::GetProcessTimes(h.get(), &created, &exited, &kernel, &user)) return std::nullopt;
  return OpenedProcess{pid, ticks(created), std::move(h)};
}

std::optional<std::vector<std::string>> read_command_line(HANDLE process) {
  bool unsupported = false;
  std::optional<std::wstring> line = query_command_line(process, unsupported);
  if (!line && unsupported) line = peb_command_line(process);
  if (!line) return std::nullopt;
  try {
    return parse_command_line(narrow(*line, "command line"));
  } catch (const InvalidArgument&) {
    return std::nullopt;  // unpaired surrogates: not a command line we could have asked for
  }
}

}  // namespace safeexec::detail::win
