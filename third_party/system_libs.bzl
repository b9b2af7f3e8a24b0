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
    "grpc++_reflection": ["grpc++"],
}

# Libraries Debian ships without a pkg-config module: linked before the
# modules of their entry, which they depend on.
_EXTRA_LIBS = {
    "grpc++_reflection": ["-lgrpc++_reflection"],
}

# Linked dynamically even in static builds: glibc's own libraries, and those the
# GPU machine has (TOOLCHAIN.md: the shipped binaries need only these).
_ALWAYS_DYNAMIC = ["pthread", "dl", "rt", "m", "c", "z", "lzma", "stdc++", "gcc_s"]

def _static_flags(ctx, flags):
    """-lfoo -> -l:libfoo.a where the archive exists and foo may be static."""
    out = []
    for f in flags:
        name = f[2:] if f.startswith("-l") and not f.startswith("-l:") else None
        if name and name not in _ALWAYS_DYNAMIC and _has_archive(ctx, "lib%s.a" % name):
            out.append("-l:lib%s.a" % name)
        else:
            out.append(f)
    return out

def _has_archive(ctx, archive):
    # The compiler driver answers with a full path when the archive is on its
    # search path, and with the bare name otherwise.
    result = ctx.execute(["gcc", "-print-file-name=" + archive])
    return result.return_code == 0 and result.stdout.strip() != archive

def _pkg_config(ctx, flag, modules):
    result = ctx.execute(["pkg-config"] + flag.split(" ") + modules)
    if result.return_code != 0:
        fail("pkg-config %s %s failed (run ./scripts/install_deps.sh): %s" %
             (flag, " ".join(modules), result.stderr))
    return [f for f in result.stdout.strip().split(" ") if f]

def _system_libs_impl(ctx):
    build = [
        'package(default_visibility = ["//visibility:public"])',
        "",
        "# --config=ship (.bazelrc) links these archives statically.",
        'config_setting(name = "static", define_values = {"paramsync_static": "1"})',
        "",
    ]
    for name, modules in _LIBS.items():
        cflags = _pkg_config(ctx, "--cflags", modules)
        extra = _EXTRA_LIBS.get(name, [])
        libs = extra + _pkg_config(ctx, "--libs", modules)
        static_libs = _static_flags(ctx, extra + _pkg_config(ctx, "--static --libs", modules))
        defines = [f[2:] for f in cflags if f.startswith("-D")]
        build.append(
            "cc_library(name = %r, defines = %r, linkopts = select({%r: %r, %r: %r}))" %
            (name, defines, ":static", static_libs + ["-lpthread"],
             "//conditions:default", libs + ["-lpthread"]),
        )
    ctx.file("BUILD.bazel", "\n".join(build) + "\n")
    ctx.file("WORKSPACE", "")

system_libs = repository_rule(
    implementation = _system_libs_impl,
    environ = ["PKG_CONFIG_PATH"],
    local = True,
)
