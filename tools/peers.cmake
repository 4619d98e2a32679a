# kvstash-peers: kvstash side by side with Redis, a file-per-block store and Mooncake Store
# (tools/peer_*.{h,cc}, docs/BENCHMARKS_PEERS.md). Included from tools/CMakeLists.txt.
if(NOT TARGET kvstash_server OR NOT TARGET kvstash_client OR NOT TARGET kvstash_flash_io_probe)
  message(STATUS "kvstash-peers: server/client/io_probe targets missing; not built")
  return()
endif()
if(NOT TARGET CLI11::CLI11 OR NOT TARGET nlohmann_json::nlohmann_json)
  message(STATUS "kvstash-peers: CLI11 or nlohmann_json missing; not built")
  return()
endif()

pkg_check_modules(HIREDIS IMPORTED_TARGET hiredis)
set(_peer_sources peers_main.cc peer_process.cc peer_workload.cc peer_report.cc peer_runner.cc
  peer_kvstash.cc peer_filestore.cc)
if(HIREDIS_FOUND)
  list(APPEND _peer_sources peer_redis.cc)
else()
  message(STATUS "kvstash-peers: hiredis not found (apt-get install libhiredis-dev): "
    "the Redis peer is not built")
endif()

add_executable(kvstash-peers ${_peer_sources})
target_include_directories(kvstash-peers PRIVATE ${PROJECT_SOURCE_DIR} ${PROJECT_SOURCE_DIR}/src)
target_compile_definitions(kvstash-peers PRIVATE KVSTASH_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
target_link_libraries(kvstash-peers PRIVATE
  kvstash_client kvstash_server kvstash_engine kvstash_admission kvstash_flash_io_probe
  kvstash_common CLI11::CLI11 nlohmann_json::nlohmann_json Threads::Threads)
if(HIREDIS_FOUND)
  target_compile_definitions(kvstash-peers PRIVATE KVSTASH_PEERS_HAVE_HIREDIS=1)
  target_link_libraries(kvstash-peers PRIVATE PkgConfig::HIREDIS)
endif()

# Unit test of the workload and report code (no servers).
kvstash_test(peer_workload_test SOURCES peer_workload.cc peer_report.cc peer_workload_test.cc
  LIBS kvstash_common nlohmann_json::nlohmann_json LABELS unit)
if(TARGET peer_workload_test)
  target_include_directories(peer_workload_test PRIVATE ${PROJECT_SOURCE_DIR})
endif()

# End to end, tiny: every peer that can run here, content verified, JSON fields checked.
if(KVSTASH_BUILD_TESTS)
  add_test(NAME kvstash_peers_quick_test
    COMMAND ${PROJECT_SOURCE_DIR}/scripts/bench-peers --test $<TARGET_FILE:kvstash-peers>)
  set_tests_properties(kvstash_peers_quick_test PROPERTIES LABELS bench TIMEOUT 240)
endif()

# The median of repeated runs (scripts/peers-median; scripts/bench-peers --repeat N).
find_package(Python3 COMPONENTS Interpreter QUIET)
if(Python3_Interpreter_FOUND AND KVSTASH_BUILD_TESTS)
  add_test(NAME peers_median_test
    COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/tools/peers_median_test.py
            ${PROJECT_SOURCE_DIR}/scripts/peers-median)
  set_tests_properties(peers_median_test PROPERTIES LABELS unit TIMEOUT 60)
endif()
