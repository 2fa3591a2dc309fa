# Helpers shared by every module's CMakeLists.txt.

# Project code builds with warnings as errors; generated code does not. GCC 12 reports
# maybe-uninitialized falsely through std::variant and std::optional at -O2, so that one is off.
function(meld_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Werror -Wno-unused-parameter
                         $<$<CXX_COMPILER_ID:GNU>:-Wno-maybe-uninitialized>)
endfunction()

# meld_module(NAME [DEPS target...]): one static library per top-level folder, built from every
# .cc file in it. Includes are written from the repository root ("storage/engine.h").
function(meld_module name)
  cmake_parse_arguments(ARG "" "" "DEPS" ${ARGN})
  file(GLOB sources CONFIGURE_DEPENDS "${CMAKE_CURRENT_SOURCE_DIR}/*.cc")
  list(FILTER sources EXCLUDE REGEX ".*_main\\.cc$")
  add_library(meld_${name} STATIC ${sources})
  target_include_directories(meld_${name} PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(meld_${name} PUBLIC ${ARG_DEPS})
  meld_warnings(meld_${name})
endfunction()
