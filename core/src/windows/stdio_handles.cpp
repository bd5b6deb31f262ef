// stdio_handles.cpp - the handle plan of one Windows spawn (stdio_handles.hpp).
//
// Same order as the POSIX plan (stdio_plan.hpp): shared checks, borrowed
// handles, every end made non-inheritable (spawn.cpp makes the child's
// inheritable under its lock, for the handle list only), files opened
// without truncation, the same-file check, then truncation.
#include "stdio_handles.hpp"

#include "pipes.hpp"
#include "safeexec/errors.hpp"
#include "stdio_plan.hpp"

namespace safeexec::detail::win {
namespace {

[[noreturn]] void fail(SpawnStage stage, DWORD error, const std::string& program) {
  throw SpawnError(stage, static_cast<int>(error), program);
}

/// A private, non-inheritable duplicate: making it inheritable later never
/// touches the handle its owner (this process or the caller) uses.
UniqueHandle duplicate(HANDLE h) {
  HANDLE dup = nullptr;
  if (!::DuplicateHandle(::GetCurrentProcess(), h, ::GetCurrentProcess(), &dup, 0, FALSE,
                         DUPLICATE_SAME_ACCESS)) {
    return UniqueHandle();
  }
  return UniqueHandle(dup);
}

EndIdentity identity_of(HANDLE h) {
  EndIdentity id;
  if (::GetFileType(h) != FILE_TYPE_DISK) return id;
  BY_HANDLE_FILE_INFORMATION info{};
  if (!::GetFileInformationByHandle(h, &info)) return id;
  id.type = EndIdentity::Type::regular_file;
  id.volume = info.dwVolumeSerialNumber;
  id.object = (static_cast<std::uint64_t>(info.nFileIndexHigh) << 32) | info.nFileIndexLow;
  return id;
}

UniqueHandle open_file(int stream, const StdioRoute& r, const std::string& program) {
  const std::wstring path = widen(r.path(), "file path");
  DWORD access = GENERIC_READ;
  DWORD disposition = OPEN_EXISTING;
  if (stream != 0) {
    // Append: write access to the end only, so every write lands there.
    access = r.file_write() == FileWrite::append ? (FILE_APPEND_DATA | SYNCHRONIZE) : GENERIC_WRITE;
    disposition = OPEN_ALWAYS;  // truncated later, once the plan is accepted
  }
  HANDLE h =
      ::CreateFileW(path.c_str(), access, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                    nullptr, disposition, FILE_ATTRIBUTE_NORMAL, nullptr);
  if (h == INVALID_HANDLE_VALUE) {
    throw_redirect_failed(stream, r, static_cast<int>(::GetLastError()), program);
  }
  return UniqueHandle(h);
}

}  // namespace

StdioHandles open_stdio(const SpawnOptions& o, const std::string& program) {
  const StdioRoutes routes = chosen_routes(o);
  check_routes(routes);
  for (int i = 0; i < 3; ++i) {
    const StdioRoute& r = routes[static_cast<std::size_t>(i)];
    DWORD flags = 0;
    if (r.kind() == StdioRoute::Kind::borrowed &&
        (!UniqueHandle::valid(r.borrowed()) || !::GetHandleInformation(r.borrowed(), &flags))) {
      throw InvalidArgument(std::string(stream_name(i)) + " borrows " + describe_route(r) +
                            ", which is not an open handle");
    }
  }

  StdioHandles s;
  std::array<EndIdentity, 3> ends;
  constexpr std::array<DWORD, 3> kStdIds{STD_INPUT_HANDLE, STD_OUTPUT_HANDLE, STD_ERROR_HANDLE};
  for (int i = 0; i < 3; ++i) {
    const auto n = static_cast<std::size_t>(i);
    const StdioRoute& r = routes[n];
    switch (r.kind()) {
      case StdioRoute::Kind::pipe: {
        PipePair p;
        const DWORD err = make_pipe(i == 0, p);
        if (err != 0) fail(SpawnStage::pipes, err, program);
        s.owned[n] = std::move(p.child);
        s.parent[n] = std::move(p.parent);
        break;
      }
      case StdioRoute::Kind::null: {
        HANDLE h =
            ::CreateFileW(L"NUL", GENERIC_READ | GENERIC_WRITE, FILE_SHARE_READ | FILE_SHARE_WRITE,
                          nullptr, OPEN_EXISTING, 0, nullptr);
        if (h == INVALID_HANDLE_VALUE) fail(SpawnStage::stdio, ::GetLastError(), program);
        s.owned[n] = UniqueHandle(h);
        break;
      }
      case StdioRoute::Kind::inherit: {
        HANDLE own = ::GetStdHandle(kStdIds[n]);
        if (!UniqueHandle::valid(own)) break;  // no such stream here: the child gets none
        s.owned[n] = duplicate(own);
        if (!s.owned[n]) fail(SpawnStage::stdio, ::GetLastError(), program);
        break;
      }
      case StdioRoute::Kind::file:
        s.owned[n] = open_file(i, r, program);
        ends[n] = identity_of(s.owned[n].get());
        break;
      case StdioRoute::Kind::borrowed:
        s.owned[n] = duplicate(r.borrowed());
        if (!s.owned[n]) {
          throw_redirect_failed(i, r, static_cast<int>(::GetLastError()), program);
        }
        ends[n] = identity_of(r.borrowed());
        break;
      case StdioRoute::Kind::to_stdout:
        s.child[n] = s.child[1];  // one handle for both: the child's order kept
        break;
    }
    if (s.owned[n]) s.child[n] = s.owned[n].get();
  }
  check_distinct_ends(routes, ends);

  for (std::size_t n = 1; n < 3; ++n) {
    const StdioRoute& r = routes[n];
    if (!wants_truncation(r, ends[n])) continue;
    LARGE_INTEGER zero{};
    if (!::SetFilePointerEx(s.owned[n].get(), zero, nullptr, FILE_BEGIN) ||
        !::SetEndOfFile(s.owned[n].get())) {
      throw_redirect_failed(static_cast<int>(n), r, static_cast<int>(::GetLastError()), program);
    }
  }
  return s;
}

}  // namespace safeexec::detail::win
