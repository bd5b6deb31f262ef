// noop_static.cpp - the tiny static helper the spawn baselines start.
//
// Linked with -static, so execve() of it costs no dynamic loader, no shared
// library mappings and no relocations: what is left is the pure cost of
// creating a process and replacing its image. Comparing a spawner on this
// program and on /bin/true (dynamic) separates the spawner's own cost from
// the loader's. No includes on purpose: nothing from libstdc++ is pulled in.
int main() {
  return 0;
}
