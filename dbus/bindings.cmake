# sdbus-c++ bindings generated at build time from dbus/org.virtscratch.Scratch1.xml, the single
# source of truth: the adaptors for daemon/dbus/, and proxies for the daemon's integration tests.
# (The client library speaks sd-bus directly; a unit test holds its signatures to the same XML.)
find_package(sdbus-c++ REQUIRED)
find_package(sdbus-c++-tools QUIET)
if(TARGET SDBusCpp::sdbus-c++-xml2cpp)
  set(VIRTSCRATCH_XML2CPP SDBusCpp::sdbus-c++-xml2cpp)
else()
  find_program(VIRTSCRATCH_XML2CPP sdbus-c++-xml2cpp REQUIRED)
endif()

# virtscratch_dbus_bindings(<proxy|adaptor> <header> <target>): generates `header` into
# <current binary dir>/generated and adds `target`, which builds it.
function(virtscratch_dbus_bindings kind header target)
  set(interface_xml ${PROJECT_SOURCE_DIR}/dbus/org.virtscratch.Scratch1.xml)
  set(generated_dir ${CMAKE_CURRENT_BINARY_DIR}/generated)
  add_custom_command(
    OUTPUT ${generated_dir}/${header}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${generated_dir}
    COMMAND ${VIRTSCRATCH_XML2CPP} --${kind}=${generated_dir}/${header} ${interface_xml}
    DEPENDS ${interface_xml}
    COMMENT "Generating the D-Bus ${kind}s from org.virtscratch.Scratch1.xml"
    VERBATIM)
  add_custom_target(${target} DEPENDS ${generated_dir}/${header})
endfunction()
