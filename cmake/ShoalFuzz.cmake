# libFuzzer targets. The main build may use g++, so each fuzzer is compiled by clang++ directly
# (a custom command) from the few sources it needs, with -fsanitize=fuzzer,address,undefined.

# Sets ${out} TRUE when a clang++ that links libFuzzer is found (probed once per build tree);
# SHOAL_CLANGXX names it. With SHOAL_BUILD_FUZZERS ON, a missing one is a configure error.
function(shoal_libfuzzer_available out)
  if(NOT DEFINED SHOAL_LIBFUZZER_OK)
    find_program(SHOAL_CLANGXX NAMES clang++ clang++-19 clang++-18 clang++-17 clang++-16
                                     clang++-15 clang++-14)
    set(ok FALSE)
    if(SHOAL_CLANGXX)
      set(probe_dir ${CMAKE_BINARY_DIR}/libfuzzer_probe)
      file(MAKE_DIRECTORY ${probe_dir})
      file(WRITE ${probe_dir}/probe.cc
           "#include <cstddef>\n#include <cstdint>\n"
           "extern \"C\" int LLVMFuzzerTestOneInput(const uint8_t*, size_t) { return 0; }\n")
      execute_process(COMMAND ${SHOAL_CLANGXX} -std=c++20 -fsanitize=fuzzer,address,undefined
                              probe.cc -o probe
                      WORKING_DIRECTORY ${probe_dir} RESULT_VARIABLE probe_rc OUTPUT_QUIET
                      ERROR_QUIET)
      if(probe_rc EQUAL 0)
        set(ok TRUE)
      endif()
    endif()
    set(SHOAL_LIBFUZZER_OK ${ok} CACHE INTERNAL "clang++ with libFuzzer works")
  endif()
  if(NOT SHOAL_LIBFUZZER_OK AND SHOAL_BUILD_FUZZERS)
    message(FATAL_ERROR "SHOAL_BUILD_FUZZERS is ON but clang++ with libFuzzer was not found "
                        "(install clang and libclang-rt-dev)")
  endif()
  set(${out} ${SHOAL_LIBFUZZER_OK} PARENT_SCOPE)
endfunction()

# shoal_add_libfuzzer(NAME n MAIN file.cc SOURCES ... HEADERS ... [FLAGS ...] [LIBS ...]):
# builds bin/<n> with clang++ as part of ALL.
function(shoal_add_libfuzzer)
  cmake_parse_arguments(F "" "NAME;MAIN" "SOURCES;HEADERS;FLAGS;LIBS" ${ARGN})
  set(bin ${CMAKE_BINARY_DIR}/bin/${F_NAME})
  add_custom_command(
    OUTPUT ${bin}
    COMMAND ${SHOAL_CLANGXX} -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined
            -fno-sanitize-recover=undefined -Wall -Wextra -Wno-unused-parameter
            -I${PROJECT_SOURCE_DIR}/src -I${PROJECT_SOURCE_DIR}/include ${F_FLAGS}
            ${F_MAIN} ${F_SOURCES} ${F_LIBS} -o ${bin}
    DEPENDS ${F_MAIN} ${F_SOURCES} ${F_HEADERS}
    COMMENT "Building ${F_NAME} with ${SHOAL_CLANGXX} (libFuzzer, ASan, UBSan)"
    VERBATIM)
  add_custom_target(${F_NAME} ALL DEPENDS ${bin})
endfunction()
