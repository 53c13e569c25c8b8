# `cmake --install`: the executable, the public headers, the schema, the
# scripts users run, and a CMake package so that an out-of-tree mini-app can
#   find_package(motifbench REQUIRED)
#   motifbench_add_plugin(mine mine.cpp)
include(CMakePackageConfigHelpers)
set(MOTIFBENCH_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/motifbench)

install(TARGETS motifbench EXPORT motifbenchTargets RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS motifbench_headers motifbench_api EXPORT motifbenchTargets)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/harness/include/motifbench DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        FILES_MATCHING PATTERN "*.hpp")
install(FILES ${PROJECT_SOURCE_DIR}/results-schema/result.schema.json ${PROJECT_SOURCE_DIR}/results-schema/VERSION
        DESTINATION ${CMAKE_INSTALL_DATADIR}/motifbench/results-schema)
install(PROGRAMS ${PROJECT_SOURCE_DIR}/scripts/plot_results.py ${PROJECT_SOURCE_DIR}/scripts/summarize.py
                 ${PROJECT_SOURCE_DIR}/scripts/ci_regression.sh
        DESTINATION ${CMAKE_INSTALL_DATADIR}/motifbench/scripts)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/configs/ DESTINATION ${CMAKE_INSTALL_DATADIR}/motifbench/configs)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/jobs/ DESTINATION ${CMAKE_INSTALL_DATADIR}/motifbench/jobs
        USE_SOURCE_PERMISSIONS OPTIONAL)

install(EXPORT motifbenchTargets NAMESPACE motifbench:: DESTINATION ${MOTIFBENCH_INSTALL_CMAKEDIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/motifbenchConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/motifbenchConfig.cmake INSTALL_DESTINATION ${MOTIFBENCH_INSTALL_CMAKEDIR})
# Plugins are checked at load time (MOTIFBENCH_PLUGIN_API_VERSION); the
# package accepts the same minor version.
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/motifbenchConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/motifbenchConfig.cmake ${CMAKE_CURRENT_BINARY_DIR}/motifbenchConfigVersion.cmake
              ${PROJECT_SOURCE_DIR}/cmake/MotifbenchKokkos.cmake
        DESTINATION ${MOTIFBENCH_INSTALL_CMAKEDIR})
