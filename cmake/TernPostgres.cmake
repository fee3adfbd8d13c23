# SPDX-License-Identifier: Apache-2.0
# The throwaway PostgreSQL 15 of a test run (issue #9): ctest starts one server per
# build directory before the first test that needs it (fixture "tern_postgres",
# scripts/pg-test-server) and stops it after the last, failures included. Tests
# find it through TERN_TEST_POSTGRES, a libpq URL with the socket directory as host.
#
#   tern_test(NAME x ... POSTGRES)            a gtest binary whose cases need it
#   tern_requires_postgres(TESTS a b ...)     any other ctest case (Python suites)
#
# The socket lives under /tmp (a UNIX socket path holds at most 107 bytes), named
# after a hash of the build directory so that build trees never share a server.

if(NOT TERN_BUILD_TESTS)
  return()
endif()

string(SHA1 _tern_pg_hash "${CMAKE_BINARY_DIR}")
string(SUBSTRING "${_tern_pg_hash}" 0 12 _tern_pg_hash)
set(TERN_TEST_POSTGRES_DIR "/tmp/tern-pg-${_tern_pg_hash}")

# initdb refuses root, so as root the cluster belongs to the "postgres" user.
execute_process(COMMAND id -un OUTPUT_VARIABLE _tern_pg_user OUTPUT_STRIP_TRAILING_WHITESPACE)
if(_tern_pg_user STREQUAL "root")
  set(_tern_pg_user postgres)
endif()
# A URL (no spaces, no semicolons): it passes through ctest's ENVIRONMENT lists
# and gtest_discover_tests unharmed.
set(TERN_TEST_POSTGRES
    "postgresql://${_tern_pg_user}@/postgres?host=${TERN_TEST_POSTGRES_DIR}")

add_test(NAME postgres.start
         COMMAND ${PROJECT_SOURCE_DIR}/scripts/pg-test-server start ${TERN_TEST_POSTGRES_DIR})
add_test(NAME postgres.stop
         COMMAND ${PROJECT_SOURCE_DIR}/scripts/pg-test-server stop ${TERN_TEST_POSTGRES_DIR})
set_tests_properties(postgres.start PROPERTIES FIXTURES_SETUP tern_postgres TIMEOUT 120)
set_tests_properties(postgres.stop PROPERTIES FIXTURES_CLEANUP tern_postgres TIMEOUT 60)

# tern_requires_postgres(TESTS name...): the cases run after postgres.start with
# TERN_TEST_POSTGRES set.
function(tern_requires_postgres)
  cmake_parse_arguments(ARG "" "" "TESTS" ${ARGN})
  set_tests_properties(${ARG_TESTS} PROPERTIES
    FIXTURES_REQUIRED tern_postgres
    ENVIRONMENT_MODIFICATION "TERN_TEST_POSTGRES=set:${TERN_TEST_POSTGRES}")
endfunction()
