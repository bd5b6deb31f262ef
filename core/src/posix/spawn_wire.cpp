// spawn_wire.cpp - encoding and decoding spawn requests (spawn_wire.hpp).
#include "spawn_wire.hpp"

#include <cstring>

namespace safeexec::detail::wire {
namespace {

/// Grows `out` by `size` bytes copied from `bytes`. resize + memcpy, not
/// vector::insert of a range: g++ 12 at -O2 reports a false
/// -Warray-bounds/-Wstringop-overflow for the insert (a consumer's Release
/// build would show it).
void append_bytes(std::vector<char>& out, const void* bytes, std::size_t size) {
  if (size == 0) return;
  const std::size_t at = out.size();
  out.resize(at + size);
  std::memcpy(out.data() + at, bytes, size);
}

template <typename T>
void append(std::vector<char>& out, const T* data, std::size_t count) {
  append_bytes(out, data, sizeof(T) * count);
}

void append_string(std::vector<char>& out, const char* s) {
  append_bytes(out, s, std::strlen(s) + 1);
}

std::size_t count_strings(char* const* list) {
  std::size_t n = 0;
  while (list[n] != nullptr) ++n;
  return n;
}

/// Reads the message front to back; every read is bounds-checked.
class Reader {
 public:
  Reader(char* data, std::size_t size) : data_(data), size_(size) {}
  template <typename T>
  bool read(T* out, std::size_t count) {
    const std::size_t bytes = sizeof(T) * count;
    if (bytes / sizeof(T) != count || size_ - pos_ < bytes) return false;
    // An empty array's data() may be null, and memcpy's arguments must not
    // be, even for 0 bytes (UBSan stopped the server on every request).
    if (bytes != 0) std::memcpy(out, data_ + pos_, bytes);
    pos_ += bytes;
    return true;
  }
  /// A NUL-terminated string in place, or nullptr past the end.
  char* string() {
    if (pos_ >= size_) return nullptr;
    char* start = data_ + pos_;
    const void* nul = std::memchr(start, '\0', size_ - pos_);
    if (nul == nullptr) return nullptr;
    pos_ += static_cast<std::size_t>(static_cast<const char*>(nul) - start) + 1;
    return start;
  }
  bool at_end() const { return pos_ == size_; }

 private:
  char* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
};

bool read_strings(Reader& r, std::uint32_t count, std::vector<char*>& out) {
  out.clear();
  out.reserve(count + 1);
  for (std::uint32_t i = 0; i < count; ++i) {
    char* s = r.string();
    if (s == nullptr) return false;
    out.push_back(s);
  }
  out.push_back(nullptr);
  return true;
}

}  // namespace

bool encode_request(const EncodeInput& in, std::vector<char>& out) {
  const ChildPlan& plan = *in.plan;
  const ChildContainment* c = plan.containment;
  RequestHeader h{};
  h.magic = kRequestMagic;
  h.flags = in.flags;
  h.fd_limit = plan.fd_limit;
  h.umask = in.caller_umask;
  h.contain_umask = -1;
  h.ignored = in.ignored;
  h.exec_count = static_cast<std::uint32_t>(plan.exec_count);
  h.argc = static_cast<std::uint32_t>(count_strings(plan.argv));
  h.envc = static_cast<std::uint32_t>(count_strings(plan.envp));
  h.keep_count = static_cast<std::uint32_t>(plan.keep_count);
  if (c != nullptr) {
    if (c->rlimit_count > kMaxRlimits || c->group_count > kMaxGroups) return false;
    h.flags |= kContainment;
    if (c->setsid) h.flags |= kSetsid;
    if (c->set_credentials) h.flags |= kSetCredentials;
    if (c->no_new_privs) h.flags |= kNoNewPrivs;
    h.contain_umask = c->umask;
    h.rlimit_count = static_cast<std::uint32_t>(c->rlimit_count);
    h.group_count = static_cast<std::uint32_t>(c->group_count);
    h.gid = c->gid;
    h.uid = c->uid;
  }
  for (int i = 0; i < 3; ++i) h.stdio_fd[i] = in.stdio_index[i];
  h.has_cwd = plan.cwd != nullptr ? 1 : 0;
  h.fd_count = in.fd_count;
  if (plan.keep_count > kMaxFds) return false;

  out.clear();
  append(out, &h, 1);
  if (c != nullptr) {
    append(out, c->rlimits, c->rlimit_count);
    append(out, c->groups, c->group_count);
  }
  append(out, plan.keep_fds, plan.keep_count);
  for (std::size_t i = 0; i < plan.exec_count; ++i) {
    out.push_back(plan.exec_paths[i].relative_to_cwd ? '\1' : '\0');
    append_string(out, plan.exec_paths[i].path);
    if (out.size() > kMaxRequestBytes) return false;
  }
  for (char* const* a = plan.argv; *a != nullptr; ++a) append_string(out, *a);
  for (char* const* e = plan.envp; *e != nullptr; ++e) append_string(out, *e);
  if (plan.cwd != nullptr) append_string(out, plan.cwd);
  return out.size() <= kMaxRequestBytes;
}

bool decode_request(char* data, std::size_t size, DecodedRequest& out) {
  Reader r(data, size);
  RequestHeader& h = out.header;
  if (!r.read(&h, 1) || h.magic != kRequestMagic) return false;
  if (h.rlimit_count > kMaxRlimits || h.group_count > kMaxGroups || h.keep_count > kMaxFds ||
      h.fd_count > kMaxFds + 4) {
    return false;
  }
  out.rlimits.resize(h.rlimit_count);
  out.groups.resize(h.group_count);
  out.keep_targets.resize(h.keep_count);
  if (!r.read(out.rlimits.data(), h.rlimit_count) || !r.read(out.groups.data(), h.group_count) ||
      !r.read(out.keep_targets.data(), h.keep_count)) {
    return false;
  }
  out.exec.clear();
  for (std::uint32_t i = 0; i < h.exec_count; ++i) {
    char relative = 0;
    if (!r.read(&relative, 1)) return false;
    const char* path = r.string();
    if (path == nullptr) return false;
    out.exec.push_back(ExecCandidate{path, relative != 0});
  }
  if (!read_strings(r, h.argc, out.argv) || !read_strings(r, h.envc, out.envp)) return false;
  out.cwd = nullptr;
  if (h.has_cwd != 0 && (out.cwd = r.string()) == nullptr) return false;
  for (int fd : out.keep_targets) {
    if (fd < 3) return false;
  }
  for (const int index : h.stdio_fd) {
    if (index < -1 || index >= static_cast<int>(h.fd_count)) return false;
  }
  return r.at_end() && h.argc > 0;
}

}  // namespace safeexec::detail::wire
