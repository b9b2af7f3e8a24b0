"""Exposes Debian's system libraries to Bazel through pkg-config.

Each entry of _LIBS becomes a cc_library in @system_libs whose compile and link
flags are what `pkg-config` reports on the build machine, so no source is vendored.
"""

# Bazel target name -> pkg-config module names.
_LIBS = {
    "grpc++": ["grpc++"],
    "protobuf": ["protobuf"],
    "absl_flags": ["absl_flags", "absl_flags_parse"],
    "absl_status": ["absl_status", "absl_statusor"],
    "absl_strings": ["absl_strings", "absl_str_format"],
    "absl_synchronization": ["absl_synchronization"],
    "absl_time": ["absl_time"],
    "absl_containers": ["absl_flat_hash_map", "absl_flat_hash_set"],
    "glog": ["libglog", "gflags"],
    "catch2": ["catch2"],
    "nlohmann_json": ["nlohmann_json"],
}

def _pkg_config(ctx, flag, modules):
    result = ctx.execute(["pkg-config", flag] + modules)
    if result.return_code != 0:
        fail("pkg-config %s %s failed (run ./scripts/install_deps.sh): %s" %
             (flag, " ".join(modules), result.stderr))
    return [f for f in result.stdout.strip().split(" ") if f]

def _system_libs_impl(ctx):
    build = ['package(default_visibility = ["//visibility:public"])', ""]
    for name, modules in _LIBS.items():
        cflags = _pkg_config(ctx, "--cflags", modules)
        libs = _pkg_config(ctx, "--libs", modules)
        defines = [f[2:] for f in cflags if f.startswith("-D")]
        build.append("cc_library(name = %r, defines = %r, linkopts = %r)" %
                     (name, defines, libs + ["-lpthread"]))
    ctx.file("BUILD.bazel", "\n".join(build) + "\n")
    ctx.file("WORKSPACE", "")

system_libs = repository_rule(
    implementation = _system_libs_impl,
    environ = ["PKG_CONFIG_PATH"],
    local = True,
)
