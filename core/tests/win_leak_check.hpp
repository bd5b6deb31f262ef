// win_leak_check.hpp - the F05 fixture of the Windows suite.
//
// SetUp snapshots this process's open handles and TearDown asserts that the
// set is the same and that no child of this process is left alive. Handles
// are found by probing every handle value with GetHandleInformation, since
// GetProcessHandleCount returns 0 under Wine; children come from a Toolhelp
// snapshot (parent pid = ours, created after us, and still running).
#pragma once

#include <windows.h>
// winternl.h needs windows.h first.
#include <winternl.h>

#include <chrono>
#include <cstdio>
#include <future>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "process_tree.hpp"
#include "safeexec/execute.hpp"

namespace safeexec_test {

/// Probing costs one wineserver round trip per value under Wine, so only
/// the low range a test process uses is probed (handle values are handed
/// out lowest-free first).
constexpr unsigned kMaxProbedHandle = 1u << 13;

/// Open handle values of this process (kernel handles are multiples of 4).
inline std::set<unsigned> open_handles() {
  std::set<unsigned> out;
  for (unsigned v = 4; v < kMaxProbedHandle; v += 4) {
    DWORD flags = 0;
    HANDLE h = reinterpret_cast<HANDLE>(static_cast<ULONG_PTR>(v));
    if (GetHandleInformation(h, &flags)) out.insert(v);
  }
  return out;
}

/// The object type of a handle ("Event", "Thread", "File", ...), for the
/// failure message: which kind of handle a test left says whose it is.
/// NtQueryObject is looked up at run time (no import library needed).
inline std::string handle_type(unsigned value) {
  using QueryObject = NTSTATUS(NTAPI*)(HANDLE, OBJECT_INFORMATION_CLASS, PVOID, ULONG, PULONG);
  const auto query = reinterpret_cast<QueryObject>(
      reinterpret_cast<void*>(GetProcAddress(GetModuleHandleW(L"ntdll.dll"), "NtQueryObject")));
  if (query == nullptr) return "?";
  alignas(PUBLIC_OBJECT_TYPE_INFORMATION) char buf[1024] = {};
  ULONG len = 0;
  HANDLE h = reinterpret_cast<HANDLE>(static_cast<ULONG_PTR>(value));
  if (query(h, ObjectTypeInformation, buf, sizeof buf, &len) < 0) return "?";
  const auto* info = reinterpret_cast<const PUBLIC_OBJECT_TYPE_INFORMATION*>(buf);
  std::string out;
  for (USHORT i = 0; i < info->TypeName.Length / sizeof(WCHAR); ++i) {
    out += static_cast<char>(info->TypeName.Buffer[i]);
  }
  return out;
}

/// Live children of this process, as pid strings: the library's own
/// snapshot walk (process_tree.hpp, F07), which drops an entry created
/// before this process - a parent id is only a number, Wine hands pids out
/// again quickly, and an orphan of an earlier process with our id is not
/// our child - and one that has exited.
inline std::vector<std::string> live_children() {
  namespace win = safeexec::detail::win;
  const std::vector<win::ProcessEntry> snapshot = win::snapshot_processes();
  const std::optional<win::OpenedProcess> self = win::open_for_reading(GetCurrentProcessId());
  if (snapshot.empty() || !self) {
    ADD_FAILURE() << "cannot list this process's children: " << GetLastError();
    return {};
  }
  std::vector<std::string> out;
  for (const win::OpenedProcess& child :
       win::children_in_snapshot(snapshot, *self, win::open_for_reading)) {
    out.push_back(std::to_string(child.pid));
  }
  return out;
}

class LeakChecked : public ::testing::Test {
 protected:
  void SetUp() override {
    warm_up();
    // GoogleTest's per-thread result reporter starts a watcher thread (and
    // its handles) for the thread of the first result: a skip or a failure
    // would otherwise show as a leak. A success result does it now.
    SUCCEED();
    // Wine closes some handles of the warm-up a moment later: wait until
    // the table holds still before taking it.
    handles_before_ = open_handles();
    for (int i = 0; i < 20; ++i) {
      Sleep(25);
      std::set<unsigned> again = open_handles();
      if (again == handles_before_) break;
      handles_before_ = std::move(again);
    }
  }

  /// Batches of six concurrent runs. winpthreads makes a mutex's wait event
  /// on the first contention and keeps it for the mutex's life, so a static
  /// mutex (the pool's, the log's, the queue timer's) gains one Event the
  /// first time two runs meet on it: at most once per process (seen: 1 of 15
  /// repeats or fewer, never twice in one process), at random. A test of
  /// concurrent runs settles that first (ConcurrentLeakChecked).
  static void concurrent_runs(int batches) {
#ifdef SAFEEXEC_TEST_CHILD
    for (int b = 0; b < batches; ++b) {
      try {
        std::vector<std::future<safeexec::ExecuteResult>> runs;
        for (int i = 0; i < 6; ++i) {
          runs.push_back(safeexec::execute_async(
              {SAFEEXEC_TEST_CHILD, "exit", "0"},
              safeexec::ExecuteOptions{}.timeout(std::chrono::seconds(60))));
        }
        for (auto& r : runs) (void)r.get();
      } catch (const std::exception&) {
      }
    }
#else
    (void)batches;
#endif
  }

  /// The runtime opens a few handles for good on first use (the first
  /// thrown exception, the first thread): do that once before counting.
  static void warm_up() {
    static const bool done = [] {
      try {
        throw std::runtime_error("warm-up");
      } catch (const std::exception&) {
      }
      std::thread([] {}).join();
      // Wine opens a few handles for good on the first path lookup and the
      // first spawn (a per-process leak shows in every test, not once).
      try {
        (void)safeexec::execute({"safeexec-warm-up-no-such-program"});
      } catch (const std::exception&) {
      }
#ifdef SAFEEXEC_TEST_CHILD
      try {
        // Exit 1: the failure is logged, and the first log line opens
        // handles of its own too.
        (void)safeexec::execute({SAFEEXEC_TEST_CHILD, "exit", "1"});
      } catch (const std::exception&) {
      }
#endif
      // The blocking-call pool starts all its threads (one handle each)
      // on first use and keeps them.
      try {
        (void)safeexec::execute_async({"safeexec-warm-up-no-such-program"}).get();
      } catch (const std::exception&) {
      }
#ifdef SAFEEXEC_TEST_CHILD
      // A queued run with a timeout starts the queue-deadline timer thread
      // (once, kept); concurrent runs make the pool's threads wait and wake
      // (winpthreads makes its wait objects on first use).
      concurrent_runs(1);
#endif
      return true;
    }();
    (void)done;
  }

  void TearDown() override {
    // GoogleTest's skip path opens handles of its own on first use; a
    // skipped test did nothing to check.
    if (IsSkipped()) return;
    const std::set<unsigned> after = table_once_it_is(handles_before_);
    std::string diff;
    for (unsigned v : after) {
      if (!handles_before_.count(v)) diff += " +" + std::to_string(v) + " (" + handle_type(v) + ")";
    }
    for (unsigned v : handles_before_) {
      if (!after.count(v)) diff += " -" + std::to_string(v);
    }
    EXPECT_TRUE(diff.empty()) << "the test changed this process's handle table:" << diff;
    // A job-killed child may take a moment to be gone; wait a little.
    std::vector<std::string> left;
    for (int i = 0; i < 100; ++i) {
      left = live_children();
      if (left.empty()) break;
      Sleep(20);
    }
    std::string pids;
    for (const auto& p : left) pids += " " + p;
    EXPECT_TRUE(left.empty()) << "a child was left running:" << pids;
  }

 protected:
  /// The handle table once it equals `want`, or as it is after a second: a
  /// handle the library closed may take a moment to go (a pending cancel).
  static std::set<unsigned> table_once_it_is(const std::set<unsigned>& want) {
    std::set<unsigned> now = open_handles();
    for (int i = 0; i < 20 && now != want; ++i) {
      Sleep(50);
      now = open_handles();
    }
    return now;
  }

  std::set<unsigned> handles_before_;
};

/// LeakChecked for a test of concurrent runs. More batches before the
/// handle table is taken, so that the lazily made wait events of the static
/// mutexes mostly exist by then (9 in 90 runs of the test left one Event
/// with one batch, 1 in 90 with six). And if the test still added Events
/// and nothing else, three more batches are run: a per-run leak grows with
/// them and fails; one made once for the process's life does not grow, and
/// is said on stdout and taken into the table.
class ConcurrentLeakChecked : public LeakChecked {
 protected:
  void SetUp() override {
    concurrent_runs(kBatches);
    LeakChecked::SetUp();
  }
  void TearDown() override {
    if (!IsSkipped() && !HasFailure()) accept_events_made_once();
    LeakChecked::TearDown();
  }

 private:
  static constexpr int kBatches = 6;
  void accept_events_made_once() {
    const std::set<unsigned> now = table_once_it_is(handles_before_);
    std::set<unsigned> added;
    for (unsigned v : now) {
      if (!handles_before_.count(v)) added.insert(v);
    }
    for (unsigned v : handles_before_) {
      if (!now.count(v)) return;  // a handle went: not this case
    }
    if (added.empty()) return;
    for (unsigned v : added) {
      if (handle_type(v) != "Event") return;
    }
    concurrent_runs(3);
    if (table_once_it_is(now) != now) return;  // it grew: LeakChecked reports it
    for (unsigned v : added) {
      std::printf("leak check: Event %u was made once by the runs (3 more batches added none)\n",
                  v);
      handles_before_.insert(v);
    }
  }
};

}  // namespace safeexec_test
