// scoped_environ.hpp - replaces this process's environ for one scope: the
// only way to give it entries setenv() refuses or never makes (malformed
// keys, no '=', a key twice - what a parent that exec'd us may pass).
#pragma once

#include <string>
#include <utility>
#include <vector>

extern char** environ;  // NOLINT(readability-redundant-declaration)

namespace safeexec_test_support {

class ScopedEnviron {
 public:
  explicit ScopedEnviron(std::vector<std::string> entries) : strings_(std::move(entries)) {
    for (std::string& s : strings_) pointers_.push_back(s.data());
    pointers_.push_back(nullptr);
    saved_ = environ;
    environ = pointers_.data();
  }
  ScopedEnviron(const ScopedEnviron&) = delete;
  ScopedEnviron& operator=(const ScopedEnviron&) = delete;
  ~ScopedEnviron() { environ = saved_; }

 private:
  std::vector<std::string> strings_;
  std::vector<char*> pointers_;
  char** saved_ = nullptr;
};

}  // namespace safeexec_test_support
