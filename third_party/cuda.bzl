"""Exposes the CUDA toolkit and NCCL from /usr/local/cuda (or $CUDA_PATH).

Where no toolkit is installed the repository still exists, `:available` is false
and the CUDA targets are skipped through target_compatible_with.
"""

def _local_cuda_impl(ctx):
    root = ctx.os.environ.get("CUDA_PATH", "/usr/local/cuda")
    present = ctx.path(root + "/include/cuda_runtime.h").exists and \
              ctx.path(root + "/include/nccl.h").exists
    if present:
        ctx.symlink(root + "/include", "include")
        ctx.symlink(root + "/lib", "lib")
        ctx.symlink(root + "/bin", "bin")
    build = [
        'package(default_visibility = ["//visibility:public"])',
        # Targets that need CUDA say target_compatible_with = ["@local_cuda//:required"]:
        # a constraint every Linux host meets when CUDA is present, and one no
        # platform declares otherwise (Bazel 4's @platforms has no :incompatible).
        'constraint_setting(name = "toolkit")',
        'constraint_value(name = "toolkit_missing", constraint_setting = ":toolkit")',
        'alias(name = "required", actual = %r)' % (
            "@platforms//os:linux" if present else ":toolkit_missing"
        ),
    ]
    if present:
        build += [
            'cc_library(name = "cuda", hdrs = glob(["include/**"]), includes = ["include"],',
            '    srcs = ["lib/libcudart_static.a"], linkopts = ["-ldl", "-lpthread", "-lrt"])',
            'cc_library(name = "nccl", deps = [":cuda"], linkopts = ["-L%s/lib", "-l:libnccl.so.2"])' % root,
            'filegroup(name = "nvcc", srcs = ["bin/nvcc"])',
        ]
    else:
        # The labels exist either way so that analysis of skipped targets succeeds.
        build += [
            'cc_library(name = "cuda")',
            'cc_library(name = "nccl")',
            'filegroup(name = "nvcc")',
        ]
    ctx.file("BUILD.bazel", "\n".join(build) + "\n")
    ctx.file("WORKSPACE", "")

local_cuda = repository_rule(
    implementation = _local_cuda_impl,
    environ = ["CUDA_PATH"],
    local = True,
)
