// stream_delivery.cpp - the bytes between the pump and the caller (see
// stream_delivery.hpp).
#include "stream_delivery.hpp"

#include <algorithm>
#include <exception>

#include "safeexec/errors.hpp"

namespace safeexec::detail {
namespace {

// Large outputs: growing a string by doubling copies every byte again at
// each step and faults in fresh pages for each discarded buffer (about twice
// the output in page faults). Once a stream has passed 1 MiB and the caller
// set a cap, reserve up to the cap in one go instead: malloc serves it with
// mmap, so the untouched part is address space, not memory. If the
// reservation is refused (no overcommit), doubling goes on as before.
constexpr std::size_t kReserveAfter = std::size_t{1} << 20;
constexpr std::size_t kNoCap = static_cast<std::size_t>(-1);

void reserve_toward_cap(std::string& sink, std::size_t incoming, std::size_t cap) noexcept {
  if (sink.size() + incoming <= sink.capacity() || sink.size() < kReserveAfter) return;
  if (cap == kNoCap || cap >= sink.max_size()) return;
  try {
    sink.reserve(cap + 1);           // +1: the pump reads one byte past the cap
  } catch (const std::exception&) {  // bad_alloc / length_error: keep doubling
  }
}

/// The source's batches: big enough that a pipe is filled in a few calls.
constexpr std::size_t kSourceBatch = std::size_t{64} * 1024;

}  // namespace

void validate_streams(const Streams& streams) {
  for (const StreamSink* s : {&streams.out, &streams.err}) {
    if (s->max_line_bytes() == 0) {
      throw InvalidArgument(std::string("max_line_bytes of the ") +
                            (s == &streams.out ? "stdout" : "stderr") + " sink must be at least 1");
    }
  }
}

void refuse_undeliverable_input(const char* call, std::size_t input_bytes, bool has_source,
                                int stdin_slot) {
  if (stdin_slot >= 0 || (input_bytes == 0 && !has_source)) return;
  const std::string what = input_bytes > 0 ? std::to_string(input_bytes) + " bytes of input"
                                           : std::string("input from a stdin source");
  throw InvalidArgument(std::string(call) + ": " + what +
                        " cannot be delivered: the child's stdin is not an open pipe of this "
                        "handle (not stdin_pipe(), or already closed by close_stdin() or an "
                        "earlier call)");
}

StreamDelivery::StreamDelivery(const StreamSink& sink, std::string& captured, std::size_t cap,
                               std::size_t tail_bytes, StreamCarry& carry)
    : sink_(sink),
      captured_(captured),
      cap_(cap),
      tail_bytes_(tail_bytes),
      carry_(carry),
      lines_(std::max<std::size_t>(sink.max_line_bytes(), 1)),
      capture_(sink.captures()) {
  lines_.restore(std::move(carry_.pending_line));
  carry_.pending_line.clear();
}

StreamDelivery::~StreamDelivery() {
  carry_.pending_line = lines_.pending();
  // ... and give back what a large reservation did not use, so that a result
  // far below its cap does not hold the cap's address space.
  if (!shrink_ || captured_.capacity() < kReserveAfter ||
      captured_.capacity() / 2 < captured_.size()) {
    return;
  }
  try {
    captured_.shrink_to_fit();
  } catch (const std::exception&) {  // keeping the larger buffer is correct too
  }
}

std::size_t StreamDelivery::read_size(std::size_t buf_bytes) const noexcept {
  if (!capture_ || cap_ == kNoCap) return buf_bytes;
  const std::size_t room = cap_ - std::min(cap_, captured_.size());
  return std::min(buf_bytes, room + 1);
}

template <class F>
void StreamDelivery::guarded(F&& f) {
  try {
    f();
  } catch (...) {
    threw_ = true;
    throw;
  }
}

bool StreamDelivery::deliver(const char* data, std::size_t n) {
  const std::string_view bytes(data, n);
  carry_.seen += n;
  if (!capture_ && tail_bytes_ > 0) {
    std::string& tail = carry_.tail;
    if (n >= tail_bytes_) {
      tail.assign(bytes.substr(n - tail_bytes_));
    } else {
      tail.append(bytes);
      // Trimmed in batches: each byte is moved at most once more.
      if (tail.size() > 2 * tail_bytes_) tail.erase(0, tail.size() - tail_bytes_);
    }
  }
  bool within = true;
  if (capture_) {
    reserve_toward_cap(captured_, n, cap_);
    captured_.append(bytes);
    within = captured_.size() <= cap_;
    if (!within) shrink_ = false;
  }
  if (sink_.chunk_callback()) guarded([&] { sink_.chunk_callback()(bytes); });
  if (sink_.line_callback()) {
    guarded([&] { lines_.feed(bytes, sink_.line_callback()); });
  }
  return within;
}

void StreamDelivery::finish() {
  if (sink_.line_callback()) guarded([&] { lines_.finish(sink_.line_callback()); });
}

bool InputFeed::may_have_more() const noexcept {
  return offset_ < input_.size() || carry_.at < carry_.buf.size() ||
         (static_cast<bool>(source_) && !carry_.done);
}

std::string_view InputFeed::next() {
  if (offset_ < input_.size()) return input_.substr(offset_);
  if (carry_.at < carry_.buf.size()) return std::string_view(carry_.buf).substr(carry_.at);
  if (!source_ || carry_.done) return {};
  carry_.buf.resize(kSourceBatch);
  carry_.at = 0;
  std::size_t n = 0;
  try {
    n = source_(carry_.buf.data(), carry_.buf.size());
  } catch (...) {
    carry_.buf.clear();
    threw_ = true;
    throw;
  }
  carry_.buf.resize(std::min(n, kSourceBatch));
  if (carry_.buf.empty()) carry_.done = true;
  return carry_.buf;
}

void InputFeed::advance(std::size_t n) noexcept {
  if (offset_ < input_.size()) {
    offset_ += std::min(n, input_.size() - offset_);
    return;
  }
  carry_.at = std::min(carry_.buf.size(), carry_.at + n);
}

PumpIo::PumpIo(const Streams& streams, Output& output, PumpState& state, std::string_view input,
               std::size_t max_output_bytes, std::size_t tail_bytes)
    : out_(streams.out, output.out, max_output_bytes, tail_bytes, state.out_stream),
      err_(streams.err, output.err, max_output_bytes, tail_bytes, state.err_stream),
      in_(input, state.input_offset, streams.in, state.source) {}

}  // namespace safeexec::detail
