# The daemon core's unit tests: config, records, pool recovery, jobs and the Service, with fakes
# at its seams (loop, listener, resolver, image engine) and, where the image itself is checked, the
# real engine's images checked with qemu-img, blkid and gzip.
add_executable(daemon_tests
  daemon/config_test.cpp
  daemon/file_permission_test.cpp
  daemon/held_keys_test.cpp
  daemon/jobs_test.cpp
  daemon/log_test.cpp
  daemon/metrics_text_test.cpp
  daemon/pool_test.cpp
  daemon/record_test.cpp
  daemon/service_test.cpp
  daemon/service_discard_test.cpp
  daemon/service_encryption_test.cpp
  daemon/service_files_test.cpp
  daemon/service_lanes_test.cpp
  daemon/service_migration_test.cpp
  daemon/service_shared_pool_test.cpp
  daemon/service_limits_test.cpp
  daemon/service_templates_test.cpp
  daemon/template_cache_test.cpp
  daemon/config_hostile_test.cpp
  daemon/worker_pool_test.cpp
)
target_include_directories(daemon_tests PRIVATE ${PROJECT_SOURCE_DIR})
target_compile_definitions(daemon_tests PRIVATE VIRTSCRATCH_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
target_link_libraries(daemon_tests PRIVATE
  virtscratch_daemon vs_test_support GTest::gtest GTest::gtest_main)
gtest_discover_tests(daemon_tests DISCOVERY_TIMEOUT 60 PROPERTIES TIMEOUT 300)

# The libvirt side, against libvirt's test driver in the test process: the daemon's event loop,
# watcher, resolver and release's attachment probe (daemon/libvirt/), and the definition edits
# of enable/disable (cli/client/domain_edit).
add_executable(libvirt_tests
  daemon/domain_edit_test.cpp
  daemon/lifecycle_watcher_test.cpp
  daemon/attachment_probe_test.cpp
  daemon/libvirt_connection_test.cpp
)
target_include_directories(libvirt_tests PRIVATE ${PROJECT_SOURCE_DIR})
target_link_libraries(libvirt_tests PRIVATE
  virtscratch_libvirt virtscratch_cli_commands vs_test_support GTest::gtest GTest::gtest_main)
gtest_discover_tests(libvirt_tests DISCOVERY_TIMEOUT 60 PROPERTIES TIMEOUT 300)

# The bus layer's authorization without a bus: credentials, polkit's answers, action names.
add_executable(bus_tests daemon/authorization_test.cpp)
target_include_directories(bus_tests PRIVATE ${PROJECT_SOURCE_DIR})
target_link_libraries(bus_tests PRIVATE virtscratch_bus GTest::gtest GTest::gtest_main)
gtest_discover_tests(bus_tests DISCOVERY_TIMEOUT 60 PROPERTIES TIMEOUT 60)
