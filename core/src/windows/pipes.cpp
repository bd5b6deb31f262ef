// pipes.cpp - overlapped named pipes for a child's stdio (pipes.hpp).
#include "pipes.hpp"

#include <atomic>
#include <string>

namespace safeexec::detail::win {

DWORD make_pipe(bool child_reads, PipePair& out) {
  // Anonymous pipes cannot be overlapped; a named pipe with a name nobody
  // else can guess or take first (FILE_FLAG_FIRST_PIPE_INSTANCE, local
  // clients only) is the same thing with overlapped I/O.
  static std::atomic<unsigned long> counter{0};
  const std::wstring name = L"\\\\.\\pipe\\safeexec-" + std::to_wstring(::GetCurrentProcessId()) +
                            L"-" + std::to_wstring(counter.fetch_add(1)) + L"-" +
                            std::to_wstring(::GetTickCount64());
  const DWORD direction = child_reads ? PIPE_ACCESS_OUTBOUND : PIPE_ACCESS_INBOUND;
  constexpr DWORD kBuffer = 65536;
  UniqueHandle server(::CreateNamedPipeW(
      name.c_str(), direction | FILE_FLAG_OVERLAPPED | FILE_FLAG_FIRST_PIPE_INSTANCE,
      PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT | PIPE_REJECT_REMOTE_CLIENTS, 1, kBuffer,
      kBuffer, 0, nullptr));
  if (!server) return ::GetLastError();
  // The child's end: FILE_WRITE_ATTRIBUTES on a read end lets the child
  // call SetNamedPipeHandleState, as some runtimes do on stdin.
  const DWORD access =
      child_reads ? (GENERIC_READ | FILE_WRITE_ATTRIBUTES) : (GENERIC_WRITE | FILE_READ_ATTRIBUTES);
  UniqueHandle client(::CreateFileW(name.c_str(), access, 0, nullptr, OPEN_EXISTING, 0, nullptr));
  if (!client) return ::GetLastError();
  out.parent = std::move(server);
  out.child = std::move(client);
  return 0;
}

}  // namespace safeexec::detail::win
