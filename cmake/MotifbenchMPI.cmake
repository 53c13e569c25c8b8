# MPI: pin the MPICH wrappers so that an installed OpenMPI cannot hijack them.
# A user with another MPI passes -DMPI_CXX_COMPILER=... explicitly.
if(NOT DEFINED MPI_CXX_COMPILER AND EXISTS /usr/bin/mpicxx.mpich)
  set(MPI_CXX_COMPILER /usr/bin/mpicxx.mpich CACHE FILEPATH "MPI C++ wrapper")
  set(MPI_C_COMPILER /usr/bin/mpicc.mpich CACHE FILEPATH "MPI C wrapper")
endif()
if(NOT DEFINED MPIEXEC_EXECUTABLE AND EXISTS /usr/bin/mpiexec.mpich)
  set(MPIEXEC_EXECUTABLE /usr/bin/mpiexec.mpich CACHE FILEPATH "MPI launcher")
endif()
find_package(MPI QUIET COMPONENTS C CXX)
