"""Exposes the CUDA toolkit and NCCL from /usr/local/cuda (or $CUDA_PATH).

Where no toolkit is installed the repository still exists: CUDA-only targets are
skipped through target_compatible_with = ["@local_cuda//:required"], and targets
that work either way pick their CUDA parts with if_cuda() from @local_cuda//:defs.bzl.
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
    # if_cuda(a, b): `a` where CUDA is present, else `b`, for deps and defines of
    # targets that work either way (the agent: host memory always, GPUs with CUDA).
    ctx.file("defs.bzl", "\n".join([
        "HAS_CUDA = %s" % present,
        "",
        "def if_cuda(if_true, if_false = []):",
        "    return if_true if HAS_CUDA else if_false",
        "",
    ]))

local_cuda = repository_rule(
    implementation = _local_cuda_impl,
    environ = ["CUDA_PATH"],
    local = True,
)
