# Flash region store (included from src/flash/CMakeLists.txt): the on-flash region format, the
# region store on top of the Device seam, their tests, benchmark and fuzzer.
add_library(kvstash_flash_region STATIC
  region_buffer.cc
  region_entries.cc
  region_format.cc
  region_store.cc
  region_store_read.cc
  region_store_space.cc)
kvstash_module_headers(kvstash_flash_region PUBLIC flash)
target_link_libraries(kvstash_flash_region
  PUBLIC kvstash_flash_device kvstash_common)

kvstash_test(flash_region_format_test
  SOURCES region_format_test.cc
  LIBS kvstash_flash_region LABELS unit)
kvstash_test(flash_region_store_test
  SOURCES region_store_test.cc region_store_fault_test.cc region_store_stress_test.cc
  LIBS kvstash_flash_region LABELS unit)

# kvstash-region-bench: region store reads/flushes vs raw io_uring O_DIRECT on the same file.
if(KVSTASH_BUILD_BENCHMARKS)
  add_executable(kvstash-region-bench region_store_bench.cc)
  target_link_libraries(kvstash-region-bench PRIVATE kvstash_flash_region kvstash_flash_io_probe)
endif()

# libFuzzer target for every decoder of the region format (clang only).
if(KVSTASH_FUZZ)
  if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    add_executable(region_format_fuzz region_format_fuzz.cc region_format.cc)
    kvstash_module_headers(region_format_fuzz PRIVATE flash)
    target_compile_options(region_format_fuzz PRIVATE -fsanitize=fuzzer,address)
    target_link_options(region_format_fuzz PRIVATE -fsanitize=fuzzer,address)
    target_link_libraries(region_format_fuzz PRIVATE kvstash_common)
  else()
    message(STATUS "region_format_fuzz not built: KVSTASH_FUZZ needs clang")
  endif()
endif()
