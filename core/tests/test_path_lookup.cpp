// PATH search never runs a program from the working directory (issue 12,
// item 9; Go 1.19's exec.ErrDot): an empty PATH entry means "." and a
// relative one is relative to the child's cwd() - a directory the caller
// may not control. A program found there is refused with
// SpawnError(SpawnStage::path_lookup, EACCES); absolute entries work as
// before, and "./prog" stays the explicit way to run one from the cwd.
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <string>
#include <vector>

#include "leak_check.hpp"
#include "test_child.hpp"

namespace {

using safeexec::SpawnStage;
using safeexec::testing::Call;
using safeexec::testing::call_count;
using safeexec_test::bounded;
using safeexec_test::child_path;
using safeexec_test::TempDir;
using PathLookup = safeexec_test::LeakChecked;

constexpr const char* kName = "safeexec-path-probe";

/// A directory holding a copy of the helper named kName (and, under `sub`,
/// another one), to be used as the child's working directory.
class PlantedDir {
 public:
  PlantedDir() {
    plant(dir_.path());
    std::filesystem::create_directory(dir_.path() + "/bin");
    plant(dir_.path() + "/bin");
  }
  const std::string& path() const { return dir_.path(); }

 private:
  static void plant(const std::string& where) {
    const std::string to = where + "/" + kName;
    std::filesystem::copy_file(child_path(), to);
    ::chmod(to.c_str(), 0755);
  }
  TempDir dir_;
};

/// The directory that holds the real helper: an absolute PATH entry.
std::string helper_dir() {
  return child_path().substr(0, child_path().rfind('/'));
}

/// Runs {name, "exit", "0"} with PATH = `path` in `cwd`; the SpawnError's
/// stage when refused, nullopt when it ran and exited 0.
std::optional<SpawnStage> run_with_path(const std::string& name, const std::string& path,
                                        const std::string& cwd) {
  try {
    const auto r = safeexec::execute(
        {name, "exit", "0"},
        bounded().spawn(safeexec::SpawnOptions{}.addl_env({{"PATH", path}}).cwd(cwd)));
    EXPECT_EQ(r.exit_code(), 0);
    return std::nullopt;
  } catch (const safeexec::SpawnError& e) {
    if (e.stage() == SpawnStage::path_lookup) {
      EXPECT_EQ(e.error_code(), EACCES);
      EXPECT_NE(std::string(e.what()).find("PATH entry"), std::string::npos) << e.what();
      EXPECT_EQ(e.program(), name);
    }
    return e.stage();
  }
}

TEST_F(PathLookup, EmptyEntryNeverRunsAProgramFromTheWorkingDirectory) {
  const PlantedDir planted;
  for (const std::string& path : {std::string(":/usr/bin"), std::string("/usr/bin:"),
                                  std::string("/usr/bin::/bin"), std::string("")}) {
    SCOPED_TRACE("PATH='" + path + "'");
    EXPECT_EQ(run_with_path(kName, path, planted.path()), SpawnStage::path_lookup);
  }
}

TEST_F(PathLookup, RelativeEntryIsRefusedToo) {
  const PlantedDir planted;
  for (const std::string& path : {std::string("bin"), std::string("./bin:/usr/bin"),
                                  std::string("/usr/bin:."), std::string("../")}) {
    SCOPED_TRACE("PATH='" + path + "'");
    const std::string cwd = path == "../" ? planted.path() + "/bin" : planted.path();
    EXPECT_EQ(run_with_path(kName, path, cwd), SpawnStage::path_lookup);
  }
}

TEST_F(PathLookup, RefusedEvenWhenALaterEntryHasTheProgram) {
  // Silently skipping to the later entry would run another program than a
  // shell would: the caller must learn that PATH is unsafe.
  const PlantedDir planted;
  EXPECT_EQ(run_with_path(kName, ":" + planted.path(), planted.path()), SpawnStage::path_lookup);
}

TEST_F(PathLookup, ProcessCreationRefusesTheSameWayAndLeavesNothing) {
  const PlantedDir planted;
  try {
    safeexec::Process p = safeexec::create_process(
        {kName}, safeexec::SpawnOptions{}.addl_env({{"PATH", ":/usr/bin"}}).cwd(planted.path()));
    ADD_FAILURE() << "ran a program from the working directory";
  } catch (const safeexec::SpawnError& e) {
    EXPECT_EQ(e.stage(), SpawnStage::path_lookup);
    EXPECT_EQ(e.error_code(), EACCES);
  }
  EXPECT_EQ(call_count(Call::clone), 1U) << "the child decides, in its own cwd";
}

TEST_F(PathLookup, AbsoluteEntriesBeforeTheEmptyOneStillWin) {
  const PlantedDir planted;
  // The helper under its real name, found in an absolute entry before "."
  // is reached: runs. "." holds no such file: the empty entry is passed over.
  const std::string real = child_path().substr(child_path().rfind('/') + 1);
  EXPECT_EQ(run_with_path(real, helper_dir() + ":", planted.path()), std::nullopt);
  EXPECT_EQ(run_with_path(real, ":" + helper_dir(), planted.path()), std::nullopt);
  // The planted name in an absolute entry listed first: runs from there.
  EXPECT_EQ(run_with_path(kName, planted.path() + "/bin:", planted.path()), std::nullopt);
}

TEST_F(PathLookup, NotFoundAnywhereIsStillAnExecError) {
  const TempDir empty;
  try {
    (void)safeexec::execute(
        {kName},
        bounded().spawn(safeexec::SpawnOptions{}.addl_env({{"PATH", ":bin"}}).cwd(empty.path())));
    ADD_FAILURE() << "no exception";
  } catch (const safeexec::SpawnError& e) {
    EXPECT_EQ(e.stage(), SpawnStage::exec);
    EXPECT_EQ(e.error_code(), ENOENT);
  }
}

TEST_F(PathLookup, ADirectoryNamedLikeTheProgramIsNotAMatch) {
  const TempDir dir;
  std::filesystem::create_directory(dir.path() + "/" + kName);
  const std::string real = child_path().substr(child_path().rfind('/') + 1);
  std::filesystem::create_directory(dir.path() + "/" + real);
  EXPECT_EQ(run_with_path(real, ":" + helper_dir(), dir.path()), std::nullopt);
}

TEST_F(PathLookup, ExplicitDotSlashRunsFromTheWorkingDirectory) {
  const PlantedDir planted;
  EXPECT_EQ(run_with_path(std::string("./") + kName, "/usr/bin", planted.path()), std::nullopt);
}

}  // namespace
