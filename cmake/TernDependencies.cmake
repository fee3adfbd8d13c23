# SPDX-License-Identifier: Apache-2.0
# Every third-party dependency is found here, once (Debian 12 packages,
# installed by scripts/install-deps).
find_package(Threads REQUIRED)
find_package(OpenSSL 3 REQUIRED)
find_package(SQLite3 REQUIRED)
find_package(fmt REQUIRED)
find_package(tl-expected REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(ARGON2 REQUIRED IMPORTED_TARGET libargon2)
pkg_check_modules(LIBCRYPT REQUIRED IMPORTED_TARGET libxcrypt)
pkg_check_modules(TOMLPP REQUIRED IMPORTED_TARGET tomlplusplus)
pkg_check_modules(IDN2 REQUIRED IMPORTED_TARGET libidn2)
find_package(ICU REQUIRED COMPONENTS uc i18n)

# Standalone Asio 1.22 as an interface target. clang 14 needs the two coroutine
# defines or the awaitable headers do not compile.
add_library(tern_asio INTERFACE)
target_compile_definitions(tern_asio INTERFACE ASIO_STANDALONE ASIO_NO_DEPRECATED)
if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  target_compile_definitions(tern_asio INTERFACE ASIO_HAS_CO_AWAIT=1 ASIO_HAS_STD_COROUTINE=1)
endif()
target_link_libraries(tern_asio INTERFACE Threads::Threads)
add_library(tern::asio ALIAS tern_asio)

if(TERN_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
if(TERN_BUILD_BENCH)
  find_package(benchmark REQUIRED)
endif()
