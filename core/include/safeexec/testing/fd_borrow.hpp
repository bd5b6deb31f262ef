// safeexec/testing/fd_borrow.hpp - TEST ONLY: see and steer the borrowed
// descriptor table (a large caller's direct spawn that copies none of its
// descriptors). Implemented by the safeexec::testing library.
#pragma once

namespace safeexec::testing {

/// How many spawns borrowed the caller's table since the process started.
unsigned borrowed_spawns() noexcept;
/// How many borrowing children reported their borrow refused (each was
/// spawned again by copying).
unsigned borrow_refusals() noexcept;
/// true: no spawn borrows (as where the kernel cannot), so a large caller
/// copies, or goes through the server under `automatic`.
void forbid_fd_borrow(bool forbidden) noexcept;
/// Forgets a remembered refusal and the probe's answer, and allows again.
void reset_fd_borrow() noexcept;

}  // namespace safeexec::testing
