// cgroup_fixture.hpp - a cgroup v2 parent of the test's own, and the leak
// check of our leaves (issue 19).
//
// SetUp makes "<v2 mount>/safeexec-test-<pid>-<n>" (only v2: the mount comes
// from /proc/self/mountinfo; no v1 hierarchy is touched); TearDown fails the
// test if any leaf is left under it - or under the caller's own v2 cgroup,
// where leaves go without a named parent - then kills and removes whatever
// is left, the parent last, on failure too.
#pragma once

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "leak_check.hpp"

namespace safeexec_test {

inline std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

/// The cgroup2 mount point, as the test reads /proc/self/mountinfo itself.
inline std::string test_cgroup2_mount() {
  std::istringstream in(read_text(safeexec_test_support::proc_path("/self/mountinfo")));
  std::string line;
  while (std::getline(in, line)) {
    const std::size_t dash = line.find(" - cgroup2 ");
    if (dash == std::string::npos) continue;
    std::istringstream fields(line.substr(0, dash));
    std::string id, parent, dev, root, mount;
    fields >> id >> parent >> dev >> root >> mount;
    if (root == "/") return mount;
  }
  return {};
}

/// The test process's own v2 cgroup directory.
inline std::string test_own_cgroup() {
  std::istringstream in(read_text(safeexec_test_support::proc_path("/self/cgroup")));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("0::", 0) == 0) {
      const std::string rel = line.substr(3);
      return test_cgroup2_mount() + (rel == "/" ? "" : rel);
    }
  }
  return {};
}

/// Directories in `dir` whose names start with `prefix`.
inline std::vector<std::string> subdirs_with_prefix(const std::string& dir,
                                                    const std::string& prefix) {
  std::vector<std::string> out;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (const dirent* e = ::readdir(d)) {
      const std::string name = e->d_name;
      if (name.rfind(prefix, 0) == 0 && e->d_type == DT_DIR) out.push_back(dir + "/" + name);
    }
    ::closedir(d);
  }
  return out;
}

/// Our library's leaves: "safeexec-<our pid>-*".
inline std::string our_leaf_prefix() {
  return "safeexec-" + std::to_string(::getpid()) + "-";
}

/// Kills everything in `cg`, waits for it to empty (bounded), removes it.
inline void force_remove_cgroup(const std::string& cg) {
  for (const std::string& sub : subdirs_with_prefix(cg, "")) {
    if (sub.substr(sub.rfind('/') + 1).rfind('.', 0) != 0) force_remove_cgroup(sub);
  }
  std::ofstream(cg + "/cgroup.kill") << "1";
  for (int i = 0;
       i < 2000 && read_text(cg + "/cgroup.events").find("populated 1") != std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  (void)::rmdir(cg.c_str());
}

class CgroupChecked : public LeakChecked {
 protected:
  void SetUp() override {
    mount_ = test_cgroup2_mount();
    if (mount_.empty()) GTEST_SKIP() << "no cgroup2 mount in /proc/self/mountinfo";
    static int counter = 0;
    parent_ =
        mount_ + "/safeexec-test-" + std::to_string(::getpid()) + "-" + std::to_string(++counter);
    if (::mkdir(parent_.c_str(), 0755) != 0) {
      const int e = errno;
      parent_.clear();
      GTEST_SKIP() << "cannot make a cgroup v2 directory under " << mount_ << " (errno " << e
                   << "): not root, or the v2 hierarchy is not delegated to us";
    }
    LeakChecked::SetUp();
  }

  void TearDown() override {
    if (parent_.empty()) return;
    LeakChecked::TearDown();
    const std::vector<std::string> left = subdirs_with_prefix(parent_, "safeexec-");
    EXPECT_TRUE(left.empty()) << "a cgroup leaf was left behind: " << left.front();
    const std::vector<std::string> left_default =
        subdirs_with_prefix(test_own_cgroup(), our_leaf_prefix());
    EXPECT_TRUE(left_default.empty()) << "a leaf was left behind: " << left_default.front();
    for (const std::string& cg : left_default) force_remove_cgroup(cg);
    force_remove_cgroup(parent_);
    EXPECT_NE(::access(parent_.c_str(), F_OK), 0) << "cannot remove " << parent_;
  }

  /// The leaves the library made under parent() right now.
  std::vector<std::string> leaves() const { return subdirs_with_prefix(parent_, "safeexec-"); }
  const std::string& parent() const { return parent_; }
  const std::string& mount() const { return mount_; }

 private:
  std::string mount_;
  std::string parent_;
};

}  // namespace safeexec_test
