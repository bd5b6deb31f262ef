// safeexec/safeexec.hpp - the one header to include.
//
// safeexec is a hardened process executor for Linux: no shell, no fork,
// close-on-exec everywhere, validated environment and pids, typed errors that
// carry errno and stage, and no descriptor or child left behind on any path.
//
//   #include <safeexec/safeexec.hpp>
//   using namespace std::chrono_literals;
//
//   // Run to completion; throws ProcessExecutionError on a non-zero exit.
//   safeexec::ExecuteResult r = safeexec::execute(
//       {"grep", "-c", "x"},
//       safeexec::ExecuteOptions{}.process_input("x\ny\nx\n").timeout(5s));
//
//   // Or drive a child yourself.
//   safeexec::Process p = safeexec::create_process(
//       {"cat"}, safeexec::SpawnOptions{}.stdin_pipe().stdout_pipe());
//   safeexec::Output o = p.communicate("hello", safeexec::deadline_after(1s));
//
// The concepts live in one header each: errors.hpp, exit_status.hpp, env.hpp,
// pid.hpp, process.hpp, execute.hpp, cancel.hpp, blocking.hpp, log.hpp.
#pragma once

#include "safeexec/blocking.hpp"
#include "safeexec/cancel.hpp"
#include "safeexec/env.hpp"
#include "safeexec/errors.hpp"
#include "safeexec/execute.hpp"
#include "safeexec/exit_status.hpp"
#include "safeexec/log.hpp"
#include "safeexec/pid.hpp"
#include "safeexec/process.hpp"
#include "safeexec/step.hpp"
#include "safeexec/stream.hpp"
