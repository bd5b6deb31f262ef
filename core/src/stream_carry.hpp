// stream_carry.hpp - what the streaming part of the pump keeps on the handle
// between a communicate() that timed out and the call that continues it.
#pragma once

#include <cstddef>
#include <string>

namespace safeexec::detail {

/// One output stream's streaming state.
struct StreamCarry {
  std::string pending_line;  ///< the line splitter's unfinished line
  std::string tail;          ///< the last bytes, for an excerpt when not captured
  std::size_t seen = 0;      ///< bytes read from the stream so far
};

/// Stdin from a source: bytes it gave that are not written yet.
struct SourceCarry {
  std::string buf;
  std::size_t at = 0;  ///< buf[at..] is still to be written
  bool done = false;   ///< the source said the input is over
};

}  // namespace safeexec::detail
