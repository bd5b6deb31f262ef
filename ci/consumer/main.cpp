// Runs `echo` through the installed library and checks what came back.
#include <safeexec/safeexec.hpp>

#include <cstdio>

int main() {
  const safeexec::ExecuteResult r = safeexec::execute({"echo", "consumer-ok"});
  if (r.out != "consumer-ok\n") {
    std::fprintf(stderr, "unexpected output: %s\n", r.out.c_str());
    return 1;
  }
  std::printf("consumer: %s", r.out.c_str());
  return 0;
}
