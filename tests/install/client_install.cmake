# Installs the client component into a fresh prefix and builds the example as a management tool
# would: `c++ example.cpp $(pkg-config --cflags --libs virt-scratch-client)`, with only the
# installed header and libraries (the source tree is not on the include path). Then runs it with
# no bus to reach, which must end in the client library's own error, not a crash.
# Run by ctest: cmake -DBUILD_DIR=... -DSOURCE_DIR=... -DWORK_DIR=... [-DEXTRA_FLAGS=...] -P
# client_install.cmake (EXTRA_FLAGS: the build's sanitizer flags, empty otherwise).
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})
set(prefix ${WORK_DIR}/prefix)

function(run_step what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT code EQUAL 0)
    message(FATAL_ERROR "${what} failed (${code}):\n${out}\n${err}")
  endif()
  set(step_out "${out}" PARENT_SCOPE)
endfunction()

run_step("cmake --install --component client"
         ${CMAKE_COMMAND} --install ${BUILD_DIR} --component client --prefix ${prefix})

# The .pc file carries the build's prefix: point pkg-config at the one just installed (set the
# prefix itself: --define-prefix cannot see through a multiarch libdir, lib/x86_64-linux-gnu,
# which GNUInstallDirs picks for the prefix /usr).
file(GLOB pc_dirs ${prefix}/lib*/pkgconfig ${prefix}/lib/*/pkgconfig)
if(NOT pc_dirs)
  message(FATAL_ERROR "no pkgconfig directory under ${prefix}")
endif()
list(GET pc_dirs 0 pc_dir)
find_program(PKG_CONFIG pkg-config REQUIRED)
set(ENV{PKG_CONFIG_PATH} ${pc_dir})
run_step("pkg-config --cflags --libs virt-scratch-client"
         ${PKG_CONFIG} --define-variable=prefix=${prefix} --cflags --libs virt-scratch-client)
string(STRIP "${step_out}" flags)
separate_arguments(flags UNIX_COMMAND "${flags}")
if(NOT "${flags}" MATCHES "${prefix}")
  message(FATAL_ERROR "pkg-config's flags do not name the installed prefix ${prefix}: ${flags}")
endif()

find_program(CXX NAMES c++ g++ REQUIRED)
set(example ${WORK_DIR}/allocate_example)
run_step("compiling the example against the installed client library"
         ${CXX} -o ${example} ${SOURCE_DIR}/client/example/allocate_example.cpp ${flags}
         ${EXTRA_FLAGS})

execute_process(COMMAND ${CMAKE_COMMAND} -E env
                        DBUS_SYSTEM_BUS_ADDRESS=unix:path=${WORK_DIR}/no-bus-here
                        ${example} 6f2b3c1e-0d4a-4e5b-9c7d-1a2b3c4d5e6f
                RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT code EQUAL 1 OR NOT err MATCHES "cannot connect to the system bus")
  message(FATAL_ERROR "the installed example did not end with the client's error (exit ${code}):"
                      "\n${out}\n${err}")
endif()
message(STATUS "the installed client library builds and links the example")
