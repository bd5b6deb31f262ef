// spawn_wire.hpp - the messages between the library and its spawn server
// (spawn_server_client.cpp, spawn_server_main.cpp). Both ends are built from
// the same sources and run on the same machine: native layout, and a magic
// number that changes with the layout, so a stale server is refused.
//
// A request is one SOCK_SEQPACKET message: a RequestHeader, then the arrays
// (rlimits, groups, keep-fd numbers), then NUL-terminated strings (exec
// candidates, each after a 0/1 "relative to cwd" byte; argv; envp; cwd).
// Its descriptors ride along with SCM_RIGHTS, in this order: the caller's
// working directory, the three stdio sources that are set, the keep fds.
// The reply is a Reply, with the child's pidfd (SCM_RIGHTS) when it has one.
#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "child.hpp"
#include "child_containment.hpp"

namespace safeexec::detail::wire {

constexpr std::uint32_t kHelloMagic = 0x53455331;    // "SES1"
constexpr std::uint32_t kRequestMagic = 0x53455251;  // "SERQ"
constexpr std::uint32_t kReplyMagic = 0x53455250;    // "SERP"
/// Larger requests (a huge environment) are spawned directly.
constexpr std::size_t kMaxRequestBytes = std::size_t{256} * 1024;
/// SCM_MAX_FD is 253; the caller's cwd and three stdio sources come first.
constexpr std::size_t kMaxFds = 250;
constexpr std::size_t kMaxRlimits = 16;
constexpr std::size_t kMaxGroups = 1024;

enum Flags : std::uint32_t {
  kNewProcessGroup = 1U << 0,
  kResetIgnored = 1U << 1,
  kUseCloseRange = 1U << 2,
  kContainment = 1U << 3,
  kSetsid = 1U << 4,
  kSetCredentials = 1U << 5,
  kNoNewPrivs = 1U << 6,
  /// Test only (safeexec::testing): the server SIGKILLs itself after the
  /// clone, before its reply - a server death with a request in flight.
  kDieBeforeReply = 1U << 7,
  /// Test only: the server SIGSTOPs itself there instead - a server that
  /// hangs (stopped, traced, starved) with a request in flight.
  kStopBeforeReply = 1U << 8,
};

struct Hello {
  std::uint32_t magic;
  std::int32_t server_pid;
  /// 0: clone3 with CLONE_PIDFD is refused here (not x86-64, before 5.3, a
  /// seccomp filter): the caller spawns directly instead.
  std::int32_t can_clone;
};

struct RequestHeader {
  std::uint32_t magic;
  std::uint32_t flags;
  std::uint32_t fd_limit;
  std::int32_t umask;          ///< the caller's, for the child to inherit
  std::int32_t contain_umask;  ///< Containment::umask(), -1: none
  std::uint64_t ignored;       ///< bit sig-1: the caller ignores sig (kept ignored)
  std::uint32_t exec_count;
  std::uint32_t argc;
  std::uint32_t envc;
  std::uint32_t keep_count;
  std::uint32_t rlimit_count;
  std::uint32_t group_count;
  std::uint32_t gid;
  std::uint32_t uid;
  std::int32_t stdio_fd[3];  ///< index into the passed descriptors, or -1
  std::uint32_t has_cwd;     ///< 1: a cwd string follows the envp strings
  std::uint32_t fd_count;    ///< descriptors passed (1 + stdio + keep)
};

struct Reply {
  std::uint32_t magic;
  std::int32_t pid;          ///< > 0: a child exists (exec'd, or failed: see report)
  std::int32_t clone_error;  ///< pid <= 0: errno of what failed
  std::int32_t clone_stage;  ///< pid <= 0: the SpawnStage of what failed
  ChildReport report;
};

/// The caller's side: the request for `plan`, everything but descriptors.
/// `stdio_index` and `keep` already say where each descriptor goes.
struct EncodeInput {
  const ChildPlan* plan;
  std::uint32_t flags;
  int caller_umask;
  std::uint64_t ignored;
  std::int32_t stdio_index[3];
  std::uint32_t fd_count;
};
/// false: the request would be larger than kMaxRequestBytes, or holds more
/// than the limits above (then the caller spawns directly).
bool encode_request(const EncodeInput& in, std::vector<char>& out);

/// The server's side: what it rebuilds from a request. The plan's pointers
/// point into this object (and into the message buffer it was decoded from).
struct DecodedRequest {
  RequestHeader header{};
  std::vector<ExecCandidate> exec;
  std::vector<char*> argv;
  std::vector<char*> envp;
  const char* cwd = nullptr;
  std::vector<int> keep_targets;
  std::vector<ChildRlimit> rlimits;
  std::vector<gid_t> groups;
};
/// false: a malformed or foreign message.
bool decode_request(char* data, std::size_t size, DecodedRequest& out);

}  // namespace safeexec::detail::wire
