"""A shared library for dlopen (ctypes) that links the system libraries dynamically.

`cc_binary(linkshared = True)` cannot be shipped: under --config=ship every
@system_libs target links Debian's static archives (-l:libX.a), which are built
as PIE, not PIC (R_X86_64_PC32 against libstdc++ symbols, local-exec TLS in
libre2.a), so no shared object can contain them; and the global -no-pie linkopt
turns `gcc -shared` into an executable link.

This rule links the PIC archives of `deps` (and their transitive C++ deps) into
one shared object and links every system library dynamically, whatever the
configuration: each -l:libX.a the deps ask for becomes -lX, with --as-needed so
that only libraries actually used are recorded. Only `exported_symbols`
(shell-style patterns) stay visible. The library finds its dependencies in
$ORIGIN/lib first (DT_RPATH, which also serves the dependencies of those
dependencies), where scripts/build_ship.sh copies the Debian libraries a
machine without them needs; elsewhere the loader's default paths serve.
"""

load("@bazel_tools//tools/cpp:toolchain_utils.bzl", "find_cpp_toolchain")

def _dynamic_flag(flag):
    # -l:libfoo.a -> -lfoo; everything else unchanged.
    if flag.startswith("-l:lib") and flag.endswith(".a"):
        return "-l" + flag[len("-l:lib"):-len(".a")]
    return flag

def _shared_library_impl(ctx):
    cc_toolchain = find_cpp_toolchain(ctx)
    whole_archives = []
    archives = []
    flags = []
    for dep in ctx.attr.deps:
        for linker_input in dep[CcInfo].linking_context.linker_inputs.to_list():
            for library in linker_input.libraries:
                archive = library.pic_static_library or library.static_library
                if archive == None:
                    continue
                if library.alwayslink:
                    if archive not in whole_archives:
                        whole_archives.append(archive)
                elif archive not in archives:
                    archives.append(archive)
            for flag in linker_input.user_link_flags:
                flag = _dynamic_flag(flag)
                if not flag.startswith("-l") or flag not in flags:
                    flags.append(flag)

    version_script = ctx.actions.declare_file(ctx.label.name + ".lds")
    ctx.actions.write(
        version_script,
        "{\n  global:\n%s  local: *;\n};\n" % "".join(
            ["    %s;\n" % p for p in ctx.attr.exported_symbols],
        ),
    )

    output = ctx.actions.declare_file(ctx.label.name)
    args = ctx.actions.args()
    args.add("-shared")
    args.add("-o", output)
    args.add("-Wl,-soname," + ctx.label.name)
    args.add("-Wl,--version-script=" + version_script.path)
    args.add("-Wl,-z,relro,-z,now")
    args.add("-Wl,-z,defs")  # Every symbol resolved now, not at dlopen time.
    args.add("-Wl,-rpath,$ORIGIN/lib")
    args.add("-Wl,--disable-new-dtags")  # DT_RPATH: it also serves indirect deps.
    if ctx.var.get("COMPILATION_MODE") == "opt":
        args.add("-Wl,--gc-sections")
        args.add("-s")
    args.add("-Wl,--whole-archive")
    args.add_all(whole_archives)
    args.add("-Wl,--no-whole-archive")
    args.add("-Wl,--start-group")
    args.add_all(archives)
    args.add("-Wl,--end-group")
    args.add("-Wl,--as-needed")
    args.add_all(flags)
    args.add_all(["-lstdc++", "-lm"])

    ctx.actions.run(
        executable = cc_toolchain.compiler_executable,
        arguments = [args],
        inputs = depset(whole_archives + archives + [version_script]),
        outputs = [output],
        mnemonic = "CppLinkShared",
        progress_message = "Linking %s (system libraries dynamic)" % output.short_path,
        use_default_shell_env = True,
    )
    return [DefaultInfo(files = depset([output]))]

shared_library = rule(
    implementation = _shared_library_impl,
    doc = "Links `deps` into a shared library whose system libraries are linked dynamically.",
    attrs = {
        "deps": attr.label_list(providers = [CcInfo], mandatory = True),
        "exported_symbols": attr.string_list(
            mandatory = True,
            doc = "Version-script patterns of the symbols to export, e.g. paramsync_*.",
        ),
        "_cc_toolchain": attr.label(default = "@bazel_tools//tools/cpp:current_cc_toolchain"),
    },
    toolchains = ["@bazel_tools//tools/cpp:toolchain_type"],
)
