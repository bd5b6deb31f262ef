# check_no_shell.cmake - F08/F11: fail when the core could start a shell.
#
#   cmake -DSCAN_DIRS="<dir>|<dir>..." -P check_no_shell.cmake
#
# Scans every C/C++ file under the given directories for calls and strings
# that run a shell or a shell-like expansion: system(), popen(), wordexp(),
# the exec*p/execl family (execvp retries ENOEXEC through /bin/sh), and the
# literals "/bin/sh", "sh", "-c", "sh -c". Comments are blanked out first
# (line numbers kept): the core's comments explain why it never does these
# things, and naming a function in a comment is not calling it. String
# literals are kept, since "/bin/sh" is exactly what we look for.
# Prints "<file>:<line>: forbidden <what>: <code>" for each hit and fails.
cmake_minimum_required(VERSION 3.20)

if(NOT SCAN_DIRS)
  message(FATAL_ERROR "check_no_shell: SCAN_DIRS is not set")
endif()
string(REPLACE "|" ";" scan_dirs "${SCAN_DIRS}")

# name -> regex, applied to one comment-free line at a time.
set(checks
  "system()" "(^|[^A-Za-z0-9_])system[ \t]*\\("
  "popen()" "(^|[^A-Za-z0-9_])popen[ \t]*\\("
  "wordexp()" "(^|[^A-Za-z0-9_])wordexp[ \t]*\\("
  "exec with PATH/shell fallback" "(^|[^A-Za-z0-9_])exec(l|lp|le|vp|vpe)[ \t]*\\("
  "shell path" "\"/bin/(ba|da|k|z)?sh\""
  "shell name" "\"(ba|da|k|z)?sh\""
  "shell -c" "\"-c\""
  "shell command" "sh -c")

# Blanks // and /* */ comments outside string and character literals, keeping
# every newline so that line numbers stay right.
function(strip_comments text out_var)
  set(out "")
  set(rest "${text}")
  while(NOT rest STREQUAL "")
    string(REGEX MATCH "^[^\"'/]+" plain "${rest}")
    if(NOT plain STREQUAL "")
      string(APPEND out "${plain}")
      string(LENGTH "${plain}" n)
      string(SUBSTRING "${rest}" ${n} -1 rest)
      continue()
    endif()
    string(SUBSTRING "${rest}" 0 1 c)
    string(SUBSTRING "${rest}" 0 2 c2)
    if(c STREQUAL "\"" OR c STREQUAL "'")
      # A literal: up to the matching unescaped quote on the same line.
      if(c STREQUAL "\"")
        string(REGEX MATCH "^\"([^\"\\\\\n]|\\\\.)*\"?" lit "${rest}")
      else()
        string(REGEX MATCH "^'([^'\\\\\n]|\\\\.)*'?" lit "${rest}")
      endif()
      string(APPEND out "${lit}")
      string(LENGTH "${lit}" n)
      string(SUBSTRING "${rest}" ${n} -1 rest)
    elseif(c2 STREQUAL "//")
      string(REGEX MATCH "^//[^\n]*" comment "${rest}")
      string(LENGTH "${comment}" n)
      string(SUBSTRING "${rest}" ${n} -1 rest)
    elseif(c2 STREQUAL "/*")
      string(FIND "${rest}" "*/" end)
      if(end EQUAL -1)
        set(comment "${rest}")
      else()
        math(EXPR n "${end} + 2")
        string(SUBSTRING "${rest}" 0 ${n} comment)
      endif()
      string(REGEX REPLACE "[^\n]" "" newlines "${comment}")
      string(APPEND out " ${newlines}")
      string(LENGTH "${comment}" n)
      string(SUBSTRING "${rest}" ${n} -1 rest)
    else()
      string(APPEND out "/")
      string(SUBSTRING "${rest}" 1 -1 rest)
    endif()
  endwhile()
  set(${out_var} "${out}" PARENT_SCOPE)
endfunction()

set(files "")
foreach(dir IN LISTS scan_dirs)
  if(NOT IS_DIRECTORY "${dir}")
    message(FATAL_ERROR "check_no_shell: not a directory: ${dir}")
  endif()
  file(GLOB_RECURSE found "${dir}/*.c" "${dir}/*.cc" "${dir}/*.cpp" "${dir}/*.h" "${dir}/*.hpp")
  list(APPEND files ${found})
endforeach()
list(LENGTH files file_count)
if(file_count EQUAL 0)
  message(FATAL_ERROR "check_no_shell: no source files under ${SCAN_DIRS}")
endif()

set(violations 0)
foreach(file IN LISTS files)
  file(READ "${file}" text)
  strip_comments("${text}" code)
  # One list element per line: neutralise the characters CMake lists treat
  # specially before splitting on newlines.
  string(REPLACE "\\" "<BS>" code "${code}")
  string(REPLACE ";" "<SEMI>" code "${code}")
  string(REPLACE "[" "<LB>" code "${code}")
  string(REPLACE "]" "<RB>" code "${code}")
  string(REPLACE "\n" ";" lines "${code}")
  set(lineno 0)
  foreach(line IN LISTS lines)
    math(EXPR lineno "${lineno} + 1")
    set(i 0)
    list(LENGTH checks nchecks)
    while(i LESS nchecks)
      list(GET checks ${i} what)
      math(EXPR j "${i} + 1")
      list(GET checks ${j} regex)
      if(line MATCHES "${regex}")
        string(STRIP "${line}" shown)
        string(REPLACE "<SEMI>" ";" shown "${shown}")
        string(REPLACE "<LB>" "[" shown "${shown}")
        string(REPLACE "<RB>" "]" shown "${shown}")
        string(REPLACE "<BS>" "\\" shown "${shown}")
        message("${file}:${lineno}: forbidden ${what}: ${shown}")
        math(EXPR violations "${violations} + 1")
      endif()
      math(EXPR i "${i} + 2")
    endwhile()
  endforeach()
endforeach()

if(violations GREATER 0)
  message(FATAL_ERROR "check_no_shell: ${violations} shell use(s) in ${file_count} files")
endif()
message("check_no_shell: no shell use in ${file_count} files")
