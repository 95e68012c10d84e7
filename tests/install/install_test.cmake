# Installs the build tree into a fresh prefix, builds tests/install/consumer
# against that prefix only, and runs it (and the installed model-runner).
# Variables: BUILD_DIR, WORK_DIR, CONSUMER_SOURCE, MODEL, GENERATOR,
# CXX_COMPILER, BUILD_TYPE, CXX_FLAGS.
cmake_minimum_required(VERSION 3.25)

function(run_step what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what} failed (${rc}):\n${ARGN}\n--- stdout\n${out}\n--- stderr\n${err}")
  endif()
  message(STATUS "${what}: ok")
  set(step_output "${out}" PARENT_SCOPE)
endfunction()

set(prefix "${WORK_DIR}/prefix")
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

run_step("install" "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${prefix}")
foreach(f include/kiln/kiln.h include/kiln/tensor_io.h bin/model-runner)
  if(NOT EXISTS "${prefix}/${f}")
    message(FATAL_ERROR "install did not produce ${prefix}/${f}")
  endif()
endforeach()
file(GLOB_RECURSE config "${prefix}/*/kilnConfig.cmake")
file(GLOB_RECURSE libs "${prefix}/*/libkiln.so*")
if(NOT config OR NOT libs)
  message(FATAL_ERROR "install did not produce kilnConfig.cmake and libkiln.so under ${prefix}")
endif()

# Only the prefix may provide kiln: no package registry, no system copies.
run_step("configure consumer" "${CMAKE_COMMAND}" -S "${CONSUMER_SOURCE}" -B "${WORK_DIR}/build"
         -G "${GENERATOR}" "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}" "-DCMAKE_BUILD_TYPE=${BUILD_TYPE}"
         "-DCMAKE_CXX_FLAGS=${CXX_FLAGS}" "-DCMAKE_PREFIX_PATH=${prefix}"
         -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF)
string(FIND "${step_output}" "kiln found at ${prefix}/" at)
if(at EQUAL -1)
  message(FATAL_ERROR "the consumer did not find kiln in ${prefix}:\n${step_output}")
endif()
run_step("build consumer" "${CMAKE_COMMAND}" --build "${WORK_DIR}/build")
run_step("run consumer" "${WORK_DIR}/build/kiln-consumer" "${MODEL}" "${WORK_DIR}")
message(STATUS "${step_output}")
# The installed CLI finds the installed library by itself (no LD_LIBRARY_PATH).
run_step("run installed model-runner" "${prefix}/bin/model-runner" "${MODEL}" --threads 2 --json)
string(FIND "${step_output}" "\"ok\":true" at)
if(at EQUAL -1)
  message(FATAL_ERROR "installed model-runner did not report ok:\n${step_output}")
endif()
