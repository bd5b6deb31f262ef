// stream_props.cpp - streaming sinks (issue 21 part 2) over the zoo's
// children. For any generated child (fixed output on one or both streams,
// echoed input of any bytes, a background job holding the pipes, `yes`
// never ending), any sink set per stream (chunk callback, line callback with
// any max_line_bytes, capture, in any combination) and either route
// (execute() or create_process() + communicate()):
//
//   S1 the chunk callback's bytes, and the bytes the line callback's lines
//      stand for (text, then '\n' when newline is set), are exactly what the
//      child wrote on that stream (for `yes`, cut by the deadline: a
//      prefix of its "y\n" stream, and the lines a prefix of the chunks);
//   S2 no line is longer than max_line_bytes; only the last line of a stream
//      may end with neither newline nor cut;
//   S3 a captured stream holds the same bytes; one not captured stays empty;
//   S4 nothing leaks (LeakGuard) and execute() keeps the zoo's time bound
//      (timeout + kill_grace + linger + slack).
#include <gtest/gtest.h>
#include <rapidcheck.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "prop_gtest.hpp"
#include "safeexec/safeexec.hpp"
#include "support.hpp"
#include "support/stream_recorder.hpp"

namespace safeexec_props {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using safeexec_test_support::StreamRecord;

constexpr std::size_t KiB = 1024;
constexpr std::size_t MiB = 1024 * KiB;

enum class Child { echo, spew, huge_both, background, yes };

const char* child_name(Child c) {
  switch (c) {
    case Child::echo:
      return "echo";
    case Child::spew:
      return "spew";
    case Child::huge_both:
      return "huge-both";
    case Child::background:
      return "background-job";
    case Child::yes:
      return "yes";
  }
  return "?";
}

struct SinkSet {
  bool chunk = false;
  bool line = false;
  std::optional<bool> capture;  // unset: the default
  std::size_t max_line = safeexec::StreamSink::kDefaultMaxLineBytes;
};

std::string show(const SinkSet& s) {
  return std::string(s.chunk ? "chunk " : "") + (s.line ? "line " : "") +
         "capture=" + (s.capture ? (*s.capture ? "on" : "off") : "default") +
         " max_line=" + std::to_string(s.max_line);
}

rc::Gen<SinkSet> gen_sinks() {
  return rc::gen::exec([] {
    SinkSet s;
    s.chunk = *rc::gen::arbitrary<bool>();
    s.line = *rc::gen::arbitrary<bool>();
    s.capture = *rc::gen::element<std::optional<bool>>(std::nullopt, true, false);
    s.max_line = *rc::gen::weightedOneOf<std::size_t>(
        {{3, rc::gen::inRange<std::size_t>(1, 300)},
         {1, rc::gen::just(safeexec::StreamSink::kDefaultMaxLineBytes)}});
    return s;
  });
}

void apply(const SinkSet& set, safeexec::StreamSink& sink,
           const std::shared_ptr<StreamRecord>& rec) {
  if (set.chunk) safeexec_test_support::record_chunks(sink, rec);
  if (set.line) safeexec_test_support::record_lines(sink, rec);
  if (set.capture) sink.capture(*set.capture);
  sink.max_line_bytes(set.max_line);
}

/// S1-S3 for one stream; `exact`: the child's whole output is known.
void check_stream(const char* name, const SinkSet& set, const safeexec::StreamSink& sink,
                  const StreamRecord& rec, const std::string& captured, const std::string& want,
                  bool exact) {
  const std::string lines = rec.line_bytes();
  const auto matches = [&](const std::string& got) {
    return exact ? got == want : want.compare(0, got.size(), got) == 0;
  };
  const std::string where = std::string(name) + " (" + show(set) + "): ";
  if (set.chunk) {
    PROP_CHECK(matches(rec.chunks), where + "S1: chunks " + std::to_string(rec.chunks.size()) +
                                        " bytes " + show_bytes(rec.chunks) + ", want " +
                                        std::to_string(want.size()) + " " + show_bytes(want));
  }
  if (set.line) {
    PROP_CHECK(matches(lines), where + "S1: lines stand for " + std::to_string(lines.size()) +
                                   " bytes " + show_bytes(lines) + ", want " +
                                   std::to_string(want.size()));
    PROP_CHECK(rec.longest_line <= set.max_line,
               where + "S2: a line of " + std::to_string(rec.longest_line) + " bytes");
    for (std::size_t i = 0; i + 1 < rec.lines.size(); ++i) {
      PROP_CHECK(rec.lines[i].newline || rec.lines[i].cut,
                 where + "S2: line " + std::to_string(i) + " neither ended nor cut");
    }
    if (set.chunk) {
      PROP_CHECK(rec.chunks.compare(0, lines.size(), lines) == 0,
                 where + "S1: the lines are not a prefix of the chunks");
    }
  }
  if (sink.captures()) {
    PROP_CHECK(matches(captured), where + "S3: captured " + std::to_string(captured.size()) +
                                      " bytes, want " + std::to_string(want.size()));
    if (set.chunk) PROP_CHECK(captured == rec.chunks, where + "S3: capture and chunks differ");
  } else {
    PROP_CHECK(captured.empty(), where + "S3: not captured, yet the result holds " +
                                     std::to_string(captured.size()) + " bytes");
  }
}

SAFEEXEC_PROP(Stream, Sinks) {
  const Child kind = *rc::gen::element(Child::echo, Child::echo, Child::spew, Child::huge_both,
                                       Child::background, Child::yes);
  const bool via_execute = *rc::gen::arbitrary<bool>();
  const SinkSet out_set = *gen_sinks();
  const SinkSet err_set = *gen_sinks();
  std::string input;
  std::size_t n_out = 0;
  std::size_t n_err = 0;
  std::vector<std::string> argv{helper_path()};
  switch (kind) {
    case Child::echo:
      input = make_bytes(*gen_pipe_edge_size(2 * MiB), *rc::gen::arbitrary<std::uint64_t>(),
                         *rc::gen::inRange(0, 5));
      argv.emplace_back("echo");
      break;
    case Child::spew:
      n_out = *gen_pipe_edge_size(1 * MiB);
      n_err = *gen_pipe_edge_size(1 * MiB);
      argv.insert(argv.end(), {"spew", std::to_string(n_out), std::to_string(n_err)});
      break;
    case Child::huge_both:
      n_out = n_err = *rc::gen::inRange<std::size_t>(0, 4 * MiB);
      argv.insert(argv.end(), {"zoo-huge-both", std::to_string(n_out)});
      break;
    case Child::background:
      argv.insert(argv.end(), {"zoo-background", "300"});
      break;
    case Child::yes:
      argv.emplace_back("zoo-yes");
      break;
  }
  const std::string tag = new_tag();
  argv.push_back(tag);
  RC_LOG() << child_name(kind) << " via " << (via_execute ? "execute" : "communicate")
           << " input=" << input.size() << " out: " << show(out_set) << " err: " << show(err_set)
           << "\n";

  const LogCapture quiet;
  LeakGuard leaks;
  auto out_rec = std::make_shared<StreamRecord>();
  auto err_rec = std::make_shared<StreamRecord>();
  safeexec::Streams io;
  apply(out_set, io.out, out_rec);
  apply(err_set, io.err, err_rec);

  const auto timeout = kind == Child::yes ? 100ms : 20s;
  const auto grace = 50ms;
  safeexec::Output got;
  bool timed_out = false;
  const auto start = Clock::now();
  try {
    if (via_execute) {
      safeexec::ExecuteResult r = safeexec::execute(argv, safeexec::ExecuteOptions{}
                                                              .timeout(timeout)
                                                              .kill_grace(grace)
                                                              .process_input(input)
                                                              .streams(io));
      got.out = std::move(r.out);
      got.err = std::move(r.err);
    } else {
      safeexec::Process p = safeexec::create_process(
          argv, safeexec::SpawnOptions{}.all_pipes().new_process_group(true));
      try {
        got = p.communicate(io, input, safeexec::deadline_after(timeout));
      } catch (const safeexec::TimeoutError& e) {
        got.out = e.partial_stdout();
        got.err = e.partial_stderr();
        (void)p.terminate(grace);
        throw;
      }
    }
  } catch (const safeexec::TimeoutError& e) {
    timed_out = true;
    if (via_execute) {
      got.out = e.partial_stdout();
      got.err = e.partial_stderr();
    }
  }
  const auto took = Clock::now() - start;
  (void)drain_tagged(tag, 500ms);  // the background job, whatever happened

  const std::string linger = "200";
  PROP_CHECK(timed_out == (kind == Child::yes),
             std::string(child_name(kind)) + ": timed out = " + std::to_string(timed_out));
  const bool exact = kind != Child::yes;
  std::string want_out;
  std::string want_err;
  switch (kind) {
    case Child::echo:
      want_out = input;
      break;
    case Child::spew:
    case Child::huge_both:
      want_out = helper_pattern(n_out);
      want_err = helper_pattern(n_err);
      break;
    case Child::background:
      want_out = "started\n";
      break;
    case Child::yes:
      // As long as any sink could have read (computed once: the lines are big).
      {
        const std::size_t seen =
            std::max({out_rec->chunks.size(), out_rec->line_bytes().size(), got.out.size()});
        while (want_out.size() < seen) want_out += "y\n";
      }
      break;
  }
  check_stream("stdout", out_set, io.out, *out_rec, got.out, want_out, exact);
  check_stream("stderr", err_set, io.err, *err_rec, got.err, want_err, exact);
  // S4
  const auto bound = timeout + grace + 200ms + 2 * timing_slack() + (exact ? 0s : 0s);
  PROP_CHECK(
      took <= bound,
      std::string(child_name(kind)) + ": S4: took " +
          std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(took).count()) +
          " ms");
  leaks.verify("S4 (streaming)");
}

}  // namespace
}  // namespace safeexec_props
