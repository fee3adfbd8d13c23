# SPDX-License-Identifier: Apache-2.0
# One warning set for all tern code; -Werror only when TERN_WERROR=ON (the CI presets).
set(TERN_WARNINGS
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Woverloaded-virtual
  -Wold-style-cast -Wcast-qual -Wformat=2 -Wimplicit-fallthrough
  -Wmissing-declarations)
# Stricter integer checks for L0/L1, where width bugs hurt parsers most.
set(TERN_STRICT_WARNINGS -Wconversion -Wsign-conversion)

function(tern_apply_warnings target strict)
  get_target_property(type ${target} TYPE)
  if(type STREQUAL "INTERFACE_LIBRARY")
    return()
  endif()
  target_compile_options(${target} PRIVATE ${TERN_WARNINGS})
  if(strict)
    target_compile_options(${target} PRIVATE ${TERN_STRICT_WARNINGS})
  endif()
  if(TERN_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
