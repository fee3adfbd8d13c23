# SPDX-License-Identifier: Apache-2.0
# TERN_SANITIZE = "address;undefined" | "thread" | "" applies to every target.
if(TERN_SANITIZE)
  list(JOIN TERN_SANITIZE "," _tern_sanitizers)
  add_compile_options(-fsanitize=${_tern_sanitizers} -fno-sanitize-recover=all
                      -fno-omit-frame-pointer)
  add_link_options(-fsanitize=${_tern_sanitizers})
endif()
if(CMAKE_BUILD_TYPE STREQUAL "Debug")
  add_compile_definitions(_GLIBCXX_ASSERTIONS)
endif()
