# Reliability and security (issue 7): crash tests against the real kvstashd, and kvstash-soak.
# Included from tools/CMakeLists.txt (after kvstashd is defined).
if(NOT TARGET kvstashd)
  return()
endif()

# kvstash-soak: bounded load from many connections with end-to-end verification.
add_executable(kvstash-soak soak_main.cc soak_workload.cc rel_daemon.cc)
target_include_directories(kvstash-soak PRIVATE ${PROJECT_SOURCE_DIR} ${PROJECT_SOURCE_DIR}/src)
target_link_libraries(kvstash-soak PRIVATE kvstash_client kvstash_common CLI11::CLI11)

if(NOT KVSTASH_BUILD_TESTS)
  return()
endif()

# kvstashd SIGKILLed under load; a writer SIGKILLed between Allocate and Commit.
kvstash_test(kvstashd_crash_test
  SOURCES kvstashd_crash_test.cc rel_daemon.cc ${PROJECT_SOURCE_DIR}/src/net/net_test_util.cc
  LIBS kvstash_server kvstash_client kvstash_ucx kvstash_net_proto kvstash_common
  LABELS integration TIMEOUT 180)
if(TARGET kvstashd_crash_test)
  target_include_directories(kvstashd_crash_test PRIVATE ${PROJECT_SOURCE_DIR})
  add_dependencies(kvstashd_crash_test kvstashd)
  set_tests_properties(kvstashd_crash_test PROPERTIES
    ENVIRONMENT "UCX_TLS=tcp;KVSTASHD_BIN=$<TARGET_FILE:kvstashd>")
endif()

# A short soak (~20 s): 64 connections, every read verified, RSS bounded. Under a sanitizer
# the shadow memory and quarantine dwarf the daemon's own overhead: the RSS bound is relaxed
# there (wrong data and LeakSanitizer's exit status still fail the run).
set(_soak_overhead 96MiB)
if(KVSTASH_SANITIZE)
  set(_soak_overhead 4GiB)
endif()
add_test(NAME kvstash_soak_short
  COMMAND kvstash-soak --kvstashd $<TARGET_FILE:kvstashd> --seconds 20 --clients 64
    --dram 128MiB --region-size 8MiB --flash-size 64MiB --max-value 128KiB
    --rss-overhead ${_soak_overhead})
set_tests_properties(kvstash_soak_short PROPERTIES
  LABELS soak TIMEOUT 120 ENVIRONMENT "UCX_TLS=tcp")
