// text.cpp - how commands and output appear in messages and logs (F13).
#include <algorithm>
#include <string>

#include "safeexec/execute.hpp"

namespace safeexec {
namespace {

void append_escaped(std::string& out, std::string_view data) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (const char ch : data) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '\n' || c == '\t' || (c >= 0x20 && c < 0x7f && c != '\\')) {
      out.push_back(ch);
    } else {
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    }
  }
}

}  // namespace

std::string excerpt(std::string_view data, std::size_t limit) {
  std::string out;
  append_escaped(out, data.substr(0, limit));
  if (data.size() > limit) out += "...[" + std::to_string(data.size() - limit) + " more bytes]";
  return out;
}

std::string describe_argv(const std::vector<std::string>& argv,
                          const std::vector<std::string>& secrets) {
  std::string out;
  for (std::size_t i = 0; i < argv.size(); ++i) {
    std::string arg = argv[i];
    for (const std::string& secret : secrets) {
      if (secret.empty()) continue;
      for (std::size_t at = arg.find(secret); at != std::string::npos;
           at = arg.find(secret, at + 3)) {
        arg.replace(at, secret.size(), "***");
      }
    }
    if (i != 0) out.push_back(' ');
    out.push_back('\'');
    append_escaped(out, arg);
    out.push_back('\'');
  }
  return out;
}

}  // namespace safeexec
