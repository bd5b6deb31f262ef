// win_batch_oracle.hpp - a model of how cmd.exe reads the line after /c,
// used by test_win_cmdline and fuzz_win_cmdline to judge
// make_batch_command_line's output without running cmd.exe (which Wine does
// not reproduce faithfully). It checks the safety invariants, not the exact
// bytes: an empty string means the line is safe.
//
// cmd.exe reads `/c "<line>"` in two phases: it strips the outer quote pair,
// expands %NAME% everywhere (inside quotes too; "%%" with no name between is
// left alone and scanning resumes at the second '%'), then splits on unquoted
// spaces, treating & | < > ^ ( ) as operators wherever they are unquoted.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace safeexec_test {

inline std::string batch_line_violation(std::string_view line, std::size_t expected_args) {
  const std::string_view marker = " /e:ON /v:OFF /d /c ";
  const std::size_t at = line.find(marker);
  if (at == std::string_view::npos) return "no '/e:ON /v:OFF /d /c' switches";
  std::string_view body = line.substr(at + marker.size());
  if (body.size() < 2 || body.front() != '"' || body.back() != '"') {
    return "the line after /c is not one quoted string";
  }
  body = body.substr(1, body.size() - 2);

  // Phase 1: percent expansion. The only expansion allowed is the no-op
  // %cd:~,% (an empty substring of the current directory).
  std::string expanded;
  for (std::size_t i = 0; i < body.size();) {
    if (body[i] != '%') {
      expanded.push_back(body[i++]);
      continue;
    }
    const std::size_t close = body.find('%', i + 1);
    if (close == std::string_view::npos) {
      expanded.append(body.substr(i));
      break;
    }
    if (close == i + 1) {  // "%%": no name; the first stays, scan on from the second
      expanded.push_back('%');
      i = close;
      continue;
    }
    const std::string_view name = body.substr(i + 1, close - i - 1);
    if (name != "cd:~,") return "cmd would expand %" + std::string(name) + "%";
    i = close + 1;
  }

  // Phase 2: quote state, operators, tokens.
  bool quoted = false;
  std::vector<std::string> tokens(1);
  for (const char c : expanded) {
    if (c == '"') {
      quoted = !quoted;
      tokens.back().push_back(c);
      continue;
    }
    if (!quoted) {
      if (std::string_view("&|<>^()!").find(c) != std::string_view::npos) {
        return std::string("'") + c + "' reaches cmd unquoted";
      }
      if (c == ' ' || c == '\t' || c == ',' || c == ';' || c == '=') {
        if (c != ' ') return std::string("separator '") + c + "' reaches cmd unquoted";
        if (!tokens.back().empty()) tokens.emplace_back();
        continue;
      }
    }
    tokens.back().push_back(c);
  }
  if (quoted) return "the line ends inside quotes";
  if (tokens.back().empty()) tokens.pop_back();
  if (tokens.size() != expected_args + 1) {
    return "cmd sees " + std::to_string(tokens.size()) + " words, expected " +
           std::to_string(expected_args + 1);
  }
  // Within a quoted word the quotes of the argument come in "" pairs, so
  // %~1 in the script gets the argument whole.
  for (std::size_t t = 1; t < tokens.size(); ++t) {
    std::string_view w = tokens[t];
    if (w.front() != '"') {
      if (w.find('"') != std::string_view::npos) return "a quote inside an unquoted word";
      continue;
    }
    if (w.size() < 2 || w.back() != '"') return "a word opens a quote it does not close";
    w = w.substr(1, w.size() - 2);
    for (std::size_t i = 0; i < w.size(); ++i) {
      if (w[i] != '"') continue;
      if (i + 1 >= w.size() || w[i + 1] != '"') return "a lone quote inside a word";
      ++i;
    }
  }
  return {};
}

}  // namespace safeexec_test
