# LibTorch >= 1.13 (CPU or CUDA). Only targets under surrogates/ link it.
find_package(Torch REQUIRED)
# TorchConfig exports its flags (the C++ ABI define) as a string, not on the target.
separate_arguments(MOTIFBENCH_TORCH_CXX_FLAGS UNIX_COMMAND "${TORCH_CXX_FLAGS}")
set(MOTIFBENCH_TORCH_VERSION "${Torch_VERSION}")
