# Kokkos >= 3.4 from any source (Debian, Spack, a user build).
find_package(Kokkos REQUIRED)
# Debian's Kokkos::kokkos points at the non-existent /usr/lib/include and links a
# stray "-DKOKKOS_DEPENDENCE"; repair the target rather than working around it.
if(Kokkos_INCLUDE_DIRS)
  get_target_property(_mb_kokkos_inc Kokkos::kokkos INTERFACE_INCLUDE_DIRECTORIES)
  if(NOT _mb_kokkos_inc OR NOT EXISTS "${_mb_kokkos_inc}/Kokkos_Core.hpp")
    get_filename_component(_mb_kokkos_real "${Kokkos_INCLUDE_DIRS}" REALPATH)
    set_target_properties(Kokkos::kokkos PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${_mb_kokkos_real}")
    get_target_property(_mb_kokkos_libs Kokkos::kokkos INTERFACE_LINK_LIBRARIES)
    list(REMOVE_ITEM _mb_kokkos_libs "-DKOKKOS_DEPENDENCE")
    set_target_properties(Kokkos::kokkos PROPERTIES INTERFACE_LINK_LIBRARIES "${_mb_kokkos_libs}")
  endif()
endif()
set(MOTIFBENCH_KOKKOS_VERSION "${Kokkos_VERSION}")

# A Kokkos with CUDA compiles Kokkos code with the compiler it names
# (nvcc_wrapper); kokkos_compilation() sets that per target, so the LibTorch
# targets keep the host compiler (configure with -DCMAKE_CXX_COMPILER=g++).
set(MOTIFBENCH_KOKKOS_DEVICE_COMPILER OFF)
if(COMMAND kokkos_compilation AND ("CUDA" IN_LIST Kokkos_DEVICES) AND NOT CMAKE_CXX_COMPILER MATCHES "nvcc_wrapper")
  set(MOTIFBENCH_KOKKOS_DEVICE_COMPILER ON)
endif()
function(motifbench_kokkos_target target)
  if(MOTIFBENCH_KOKKOS_DEVICE_COMPILER)
    kokkos_compilation(TARGET ${target})
  endif()
endfunction()
