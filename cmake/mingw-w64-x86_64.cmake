# Cross-compiling safeexec for 64-bit Windows with mingw-w64 (Debian's
# g++-mingw-w64-x86-64-posix: gcc with POSIX threads, so std::thread works),
# tests run under Wine through cmake/wine-run.
#
#   cmake --preset windows-wine && cmake --build --preset windows-wine
#   ctest --preset windows-wine
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)
set(SAFEEXEC_MINGW_PREFIX x86_64-w64-mingw32)

find_program(SAFEEXEC_MINGW_CXX NAMES ${SAFEEXEC_MINGW_PREFIX}-g++-posix REQUIRED)
find_program(SAFEEXEC_MINGW_CC NAMES ${SAFEEXEC_MINGW_PREFIX}-gcc-posix REQUIRED)
set(CMAKE_CXX_COMPILER ${SAFEEXEC_MINGW_CXX})
set(CMAKE_C_COMPILER ${SAFEEXEC_MINGW_CC})
set(CMAKE_RC_COMPILER ${SAFEEXEC_MINGW_PREFIX}-windres)

set(CMAKE_FIND_ROOT_PATH /usr/${SAFEEXEC_MINGW_PREFIX})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# Static: libstdc++, libgcc and winpthread inside every .exe, so Wine (and a
# Windows runner) needs no DLL search path.
set(CMAKE_EXE_LINKER_FLAGS_INIT "-static")

# Every test executable runs under Wine, in a private prefix of this build
# directory (created on first use; see cmake/wine-run).
set(CMAKE_CROSSCOMPILING_EMULATOR ${CMAKE_CURRENT_LIST_DIR}/wine-run)
