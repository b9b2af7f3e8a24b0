"""cuda_kernel: a cc_library of one CUDA source compiled by nvcc through a genrule.

Bazel 4 has no CUDA rules usable offline (TOOLCHAIN.md): the genrule runs the
toolkit's nvcc for the GPUs the agents run on (H100/H200, sm_90; PTX for later
ones), and the library links the object with the CUDA runtime.
"""

def cuda_kernel(name, src, hdr, cu_headers = [], deps = []):
    """Declares `name` (the library) and `name`_object (the genrule).

    Args:
      name: the cc_library.
      src: the .cu file, in this package.
      hdr: its header, in this package: the library's interface.
      cu_headers: every other header the .cu includes (labels; nvcc sees
        only what the genrule lists).
      deps: libraries `hdr` includes.
    """
    native.genrule(
        name = name + "_object",
        srcs = [src, hdr] + cu_headers,
        outs = [src[:-len(".cu")] + ".o"],
        # nvcc finds its tools next to its real path, not the sandbox's link to it.
        cmd = "$$(readlink -f $(location @local_cuda//:nvcc)) -std=c++17 -O3 -I. " +
              "-gencode arch=compute_90,code=[sm_90,compute_90] -Xcompiler -fPIC " +
              "-c $(location " + src + ") -o $@",
        target_compatible_with = ["@local_cuda//:required"],
        tools = ["@local_cuda//:nvcc"],
    )
    native.cc_library(
        name = name,
        srcs = [":" + name + "_object"],
        hdrs = [hdr],
        target_compatible_with = ["@local_cuda//:required"],
        deps = ["@local_cuda//:cuda"] + deps,
    )
