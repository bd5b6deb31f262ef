// child_env.cpp - see child_env.hpp.
#include "child_env.hpp"

#include "safeexec/env.hpp"

namespace safeexec::detail {

ChildEnvironment::ChildEnvironment(const SpawnOptions& options) : parent_(EnvironSnapshot::take()) {
  if (environ_passes_as_is(parent_.entries(), options.inherit_env(), options.addl_env())) {
    // The fast path: the snapshot itself, in environ's order, no filtering.
    envp_.assign(parent_.entries(), parent_.entries() + parent_.size() + 1);
  } else {
    built_ = build_child_environment(parent_.entries(), options.inherit_env(), options.addl_env(),
                                     options.env_policy());
    envp_.reserve(built_.size() + 1);
    for (std::string& entry : built_) envp_.push_back(entry.data());
    envp_.push_back(nullptr);
  }
  if (auto it = options.addl_env().find("PATH"); it != options.addl_env().end()) {
    search_path_ = it->second;
  } else if (const char* path = parent_.find("PATH")) {
    search_path_ = path;
  } else {
    search_path_ = "/usr/local/bin:/usr/bin:/bin";
  }
}

}  // namespace safeexec::detail
