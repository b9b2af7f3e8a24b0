"""cc_grpc_library: protoc + grpc_cpp_plugin through a genrule, wrapped in a cc_library."""

def cc_grpc_library(name, protos):
    outs = []
    for p in protos:
        base = p[:-len(".proto")]
        outs += [base + ".pb.h", base + ".pb.cc", base + ".grpc.pb.h", base + ".grpc.pb.cc"]
    native.genrule(
        name = name + "_gen",
        srcs = protos,
        outs = outs,
        cmd = " ".join([
            "/usr/bin/protoc",
            "--proto_path=%s" % native.package_name(),
            "--cpp_out=$(RULEDIR)",
            "--grpc_out=$(RULEDIR)",
            "--plugin=protoc-gen-grpc=/usr/bin/grpc_cpp_plugin",
        ] + ["$(location %s)" % p for p in protos]),
    )
    native.cc_library(
        name = name,
        srcs = [o for o in outs if o.endswith(".cc")],
        hdrs = [o for o in outs if o.endswith(".h")],
        includes = ["."],
        deps = ["@system_libs//:grpc++", "@system_libs//:protobuf"],
    )
