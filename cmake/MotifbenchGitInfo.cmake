# Run at build time (cmake -P): records the commit and dirty flag of the source
# tree the binary is built from, rewriting OUT only when they change.
#   cmake -DSRC=<source dir> -DOUT=<file.cpp> -P MotifbenchGitInfo.cmake
set(_commit "unknown")
set(_dirty "false")
set(_known "false")
find_program(_git git)
if(_git)
  execute_process(COMMAND ${_git} -C ${SRC} rev-parse HEAD OUTPUT_VARIABLE _out RESULT_VARIABLE _rc
                  OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(_rc EQUAL 0 AND _out)
    set(_commit "${_out}")
    set(_known "true")
    execute_process(COMMAND ${_git} -C ${SRC} status --porcelain --untracked-files=no OUTPUT_VARIABLE _st
                    RESULT_VARIABLE _rc2 OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
    if(_rc2 EQUAL 0 AND NOT "${_st}" STREQUAL "")
      set(_dirty "true")
    endif()
  endif()
endif()
set(_text "// Generated at build time by cmake/MotifbenchGitInfo.cmake; do not edit.
namespace motifbench::detail {
const char* build_git_commit() { return \"${_commit}\"; }
bool build_git_dirty() { return ${_dirty}; }
bool build_git_known() { return ${_known}; }
}  // namespace motifbench::detail
")
if(EXISTS ${OUT})
  file(READ ${OUT} _old)
else()
  set(_old "")
endif()
if(NOT "${_old}" STREQUAL "${_text}")
  file(WRITE ${OUT} "${_text}")
endif()
