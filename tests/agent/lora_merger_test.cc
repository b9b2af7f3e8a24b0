// LoraMerger on a CPU agent's real parts: tensors registered from shared
// memory in a TensorRegistry, merged and restored by HostMemoryOps; and the
// AgentControl handlers that drive it (Lora, Abort).
#include "agent/tasks/lora_merger.h"

#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "agent/data_plane.h"
#include "agent/service/agent_control_service.h"
#include "common/dtype.h"
#include "common/float_formats.h"

namespace paramsync::agent {
namespace {

using Shape = std::vector<int64_t>;

// Host memory whose `fail_at`-th allocation from now fails (0: none does), as
// when the copies do not fit.
class FaultyHostMemory : public HostMemoryOps {
 public:
  int fail_at = 0;

 protected:
  absl::StatusOr<void*> AllocateRaw(size_t bytes) override {
    if (fail_at > 0 && --fail_at == 0) {
      return absl::ResourceExhaustedError("no memory for the copy (test)");
    }
    return HostMemoryOps::AllocateRaw(bytes);
  }
};

struct TensorDef {
  std::string name;
  v1::DType dtype = v1::DTYPE_FLOAT32;
  Shape shape;
  v1::LoraRole role = v1::LORA_ROLE_UNSPECIFIED;  // With `base` empty: lora unset.
  std::string base;
  double scale = 0;
};

// W, its A and B with `scale`: the usual adapted weight.
std::vector<TensorDef> Adapted(const std::string& w, v1::DType dtype, int64_t m, int64_t n,
                               int64_t r, double scale) {
  return {{w, dtype, {m, n}},
          {w + ".lora_A", dtype, {r, n}, v1::LORA_ROLE_A, w, scale},
          {w + ".lora_B", dtype, {m, r}, v1::LORA_ROLE_B, w, scale}};
}

std::vector<TensorDef> Concat(std::vector<std::vector<TensorDef>> parts) {
  std::vector<TensorDef> out;
  for (auto& part : parts) out.insert(out.end(), part.begin(), part.end());
  return out;
}

google::protobuf::RepeatedPtrField<v1::EndpointRef> Refs(
    const std::vector<std::pair<std::string, int>>& endpoints) {
  google::protobuf::RepeatedPtrField<v1::EndpointRef> refs;
  for (const auto& [model, rank] : endpoints) {
    v1::EndpointRef* ref = refs.Add();
    ref->set_model(model);
    ref->set_rank(rank);
  }
  return refs;
}

struct Fixture {
  static constexpr size_t kRegionBytes = 1 << 16;

  Fixture() {
    absl::StatusOr<SharedMemoryRegion> created = SharedMemoryRegion::Create(name, kRegionBytes);
    REQUIRE(created.ok());
    region = std::make_unique<SharedMemoryRegion>(*std::move(created));
  }

  // Registers `tensors` as endpoint (model, rank), laid out one after the
  // other (8-byte aligned) in the region after what was registered before.
  v1::LocalRegisterEndpointRequest Register(const std::string& model, int rank,
                                            const std::vector<TensorDef>& tensors) {
    v1::LocalRegisterEndpointRequest request;
    request.mutable_endpoint()->set_model(model);
    request.mutable_endpoint()->set_rank(rank);
    request.mutable_endpoint()->set_role(v1::ROLE_TRAINER);
    for (const TensorDef& def : tensors) {
      v1::LocalTensor* tensor = request.add_tensors();
      v1::ParameterSpec* spec = tensor->mutable_spec();
      spec->set_name(def.name);
      spec->set_dtype(def.dtype);
      for (int64_t d : def.shape) spec->add_shape(d);
      if (def.role != v1::LORA_ROLE_UNSPECIFIED || !def.base.empty()) {
        spec->mutable_lora()->set_role(def.role);
        spec->mutable_lora()->set_base(def.base);
        spec->mutable_lora()->set_scale(def.scale);
      }
      absl::StatusOr<uint64_t> bytes = TensorBytes(def.dtype, def.shape);
      REQUIRE(bytes.ok());
      tensor->set_shm_name(name);
      tensor->set_offset(next_offset);
      tensor->set_nbytes(*bytes);
      next_offset = (next_offset + *bytes + 7) / 8 * 8;
      REQUIRE(next_offset <= kRegionBytes);
    }
    const absl::Status status = registry.RegisterEndpoint(request);
    INFO(status.ToString());
    REQUIRE(status.ok());
    return request;
  }

  TensorView View(const std::string& model, const std::string& tensor, int rank = 0) const {
    absl::StatusOr<TensorView> view = registry.Find({model, rank}, tensor);
    REQUIRE(view.ok());
    return *view;
  }

  // Element `e` of a float32, float16 or bfloat16 tensor, as float.
  float Get(const std::string& model, const std::string& tensor, size_t e) const {
    const TensorView view = View(model, tensor);
    if (view.spec->dtype() == v1::DTYPE_FLOAT32) {
      float value;
      std::memcpy(&value, view.data + 4 * e, 4);
      return value;
    }
    uint16_t bits;
    std::memcpy(&bits, view.data + 2 * e, 2);
    return view.spec->dtype() == v1::DTYPE_FLOAT16 ? Float16ToFloat(bits) : Bfloat16ToFloat(bits);
  }

  // Sets every element of a tensor to value(e) (exact in its type).
  template <typename Value>
  void Fill(const std::string& model, const std::string& tensor, Value value) {
    const TensorView view = View(model, tensor);
    const size_t size = DTypeSize(view.spec->dtype());
    for (size_t e = 0; e < view.nbytes / size; ++e) {
      const float v = static_cast<float>(value(e));
      if (view.spec->dtype() == v1::DTYPE_FLOAT32) {
        std::memcpy(view.data + 4 * e, &v, 4);
        continue;
      }
      const uint16_t bits =
          view.spec->dtype() == v1::DTYPE_FLOAT16 ? FloatToFloat16(v) : FloatToBfloat16(v);
      std::memcpy(view.data + 2 * e, &bits, 2);
    }
  }

  // Small integers in W, A and B of an adapted weight, so that every merged
  // value (multiples of scale) is exact in every type.
  void FillSmall(const std::string& model, const std::string& w) {
    const TensorView a = View(model, w + ".lora_A");
    const int64_t n = a.spec->shape(1), r = a.spec->shape(0);
    Fill(model, w, [n](size_t e) { return static_cast<int>(e / n) - static_cast<int>(e % n); });
    Fill(model, w + ".lora_A",
         [n](size_t e) { return static_cast<int>((e / n + 2 * (e % n)) % 5) - 2; });
    Fill(model, w + ".lora_B", [r](size_t e) { return static_cast<int>((e / r + e % r) % 3) - 1; });
  }

  // W's values after one merge, from the values now in W, A and B (exact).
  std::vector<double> ExpectedMerge(const std::string& model, const std::string& w) const {
    const TensorView a = View(model, w + ".lora_A");
    const int64_t r = a.spec->shape(0), n = a.spec->shape(1);
    const int64_t m = View(model, w).spec->shape(0);
    const double scale = a.spec->lora().scale();
    std::vector<double> out;
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        double value = Get(model, w, i * n + j);
        for (int64_t k = 0; k < r; ++k) {
          value +=
              scale * Get(model, w + ".lora_B", i * r + k) * Get(model, w + ".lora_A", k * n + j);
        }
        out.push_back(value);
      }
    }
    return out;
  }

  std::vector<double> Values(const std::string& model, const std::string& w) const {
    const TensorView view = View(model, w);
    std::vector<double> out;
    for (size_t e = 0; e < view.nbytes / DTypeSize(view.spec->dtype()); ++e) {
      out.push_back(Get(model, w, e));
    }
    return out;
  }

  std::vector<uint8_t> Bytes(const std::string& model, const std::string& tensor) const {
    const TensorView view = View(model, tensor);
    return {view.data, view.data + view.nbytes};
  }

  std::vector<uint8_t> Snapshot() const {
    const auto* bytes = static_cast<const uint8_t*>(region->data());
    return {bytes, bytes + kRegionBytes};
  }

  absl::StatusOr<v1::LoraResponse> Merge(
      uint64_t sync_id, const std::vector<std::pair<std::string, int>>& endpoints) {
    return merger.Merge(sync_id, Refs(endpoints));
  }

  const std::string name = "/paramsync-lora-" + std::to_string(getpid());
  std::unique_ptr<SharedMemoryRegion> region;
  uint64_t next_offset = 8;
  TensorRegistry registry;
  FaultyHostMemory memory;
  LoraMerger merger{&registry, &memory};
};

// The trainer of most cases: three adapted weights of the three types, and a
// tensor without an adapter.
std::vector<TensorDef> Trainer() {
  return Concat({Adapted("q", v1::DTYPE_BFLOAT16, 4, 6, 2, 0.5),
                 Adapted("v", v1::DTYPE_FLOAT32, 3, 5, 1, 2.0),
                 Adapted("o", v1::DTYPE_FLOAT16, 2, 3, 3, 0.25),
                 {{"norm", v1::DTYPE_FLOAT32, {5}}}});
}

void FillTrainer(Fixture& f, const std::string& model) {
  for (const char* w : {"q", "v", "o"}) f.FillSmall(model, w);
  f.Fill(model, "norm", [](size_t e) { return static_cast<int>(e) + 1; });
}

TEST_CASE("A merge adds scale * B @ A to each base weight; a restore puts back the original",
          "[lora_merger]") {
  Fixture f;
  f.Register("trainer", 0, Trainer());
  FillTrainer(f, "trainer");
  const std::vector<uint8_t> before = f.Snapshot();
  const std::vector<std::string> unchanged = {"q.lora_A", "q.lora_B", "v.lora_A", "o.lora_B",
                                              "norm"};
  std::vector<std::vector<uint8_t>> unchanged_bytes;
  for (const std::string& tensor : unchanged) unchanged_bytes.push_back(f.Bytes("trainer", tensor));
  const std::vector<double> q = f.ExpectedMerge("trainer", "q");
  const std::vector<double> v = f.ExpectedMerge("trainer", "v");
  const std::vector<double> o = f.ExpectedMerge("trainer", "o");
  REQUIRE(q != f.Values("trainer", "q"));  // The adapters change something.

  absl::StatusOr<v1::LoraResponse> merged = f.Merge(5, {{"trainer", 0}});
  INFO(merged.status().ToString());
  REQUIRE(merged.ok());
  CHECK(merged->base_weights() == 3);
  const int64_t copies = 4 * 6 * 2 + 3 * 5 * 4 + 2 * 3 * 2;
  CHECK(merged->saved_bytes() == copies);
  CHECK(f.memory.live_bytes() == static_cast<size_t>(copies));  // Staging memory.
  CHECK(f.Values("trainer", "q") == q);
  CHECK(f.Values("trainer", "v") == v);
  CHECK(f.Values("trainer", "o") == o);
  // Only the base weights changed.
  for (size_t i = 0; i < unchanged.size(); ++i) {
    INFO(unchanged[i]);
    CHECK(f.Bytes("trainer", unchanged[i]) == unchanged_bytes[i]);
  }

  absl::StatusOr<v1::LoraResponse> other = f.merger.Restore(6);  // Not this sync.
  REQUIRE(other.ok());
  CHECK(other->base_weights() == 0);
  CHECK(f.Values("trainer", "q") == q);

  absl::StatusOr<v1::LoraResponse> restored = f.merger.Restore(5);
  REQUIRE(restored.ok());
  CHECK(restored->base_weights() == 3);
  CHECK(f.Snapshot() == before);
  CHECK(f.memory.live_bytes() == 0);
  absl::StatusOr<v1::LoraResponse> again = f.merger.Restore(5);
  REQUIRE(again.ok());
  CHECK(again->base_weights() == 0);
}

TEST_CASE("A restore gives back any original bit for bit, NaNs and rounding included",
          "[lora_merger]") {
  Fixture f;
  f.Register("trainer", 0,
             Concat({Adapted("w16", v1::DTYPE_BFLOAT16, 33, 17, 8, 1.7),
                     Adapted("w32", v1::DTYPE_FLOAT32, 9, 31, 4, 0.3)}));
  std::mt19937 rng(11);
  auto* bytes = static_cast<uint8_t*>(f.region->data());
  for (size_t i = 0; i < Fixture::kRegionBytes; ++i) bytes[i] = static_cast<uint8_t>(rng());
  const std::vector<uint8_t> before = f.Snapshot();
  absl::StatusOr<v1::LoraResponse> merged = f.Merge(1, {{"trainer", 0}});
  REQUIRE(merged.ok());
  CHECK(f.Snapshot() != before);
  REQUIRE(f.merger.Restore(1).ok());
  CHECK(f.Snapshot() == before);
}

TEST_CASE("Adapters that cannot merge are refused, naming endpoint and tensor, before any change",
          "[lora_merger]") {
  struct Case {
    std::string what;
    std::vector<TensorDef> tensors;
    std::vector<std::string> said;  // Substrings of the message.
  };
  const v1::DType bf16 = v1::DTYPE_BFLOAT16;
  const std::vector<TensorDef> q = Adapted("q", bf16, 4, 6, 2, 0.5);
  auto with = [&q](size_t i, auto change) {
    std::vector<TensorDef> tensors = q;
    change(tensors[i]);
    return tensors;
  };
  const std::vector<Case> cases = {
      {"base missing",
       with(0, [](TensorDef& t) { t.name = "k"; }),
       {"tensor 'q'", "no such tensor"}},
      {"two A",
       Concat({q, {{"q.lora_A2", bf16, {2, 6}, v1::LORA_ROLE_A, "q", 0.5}}}),
       {"tensor 'q'", "2 LORA_ROLE_A", "exactly one of each"}},
      {"no B", {q[0], q[1]}, {"tensor 'q'", "0 LORA_ROLE_B"}},
      {"scales differ",
       with(2, [](TensorDef& t) { t.scale = 0.25; }),
       {"tensor 'q'", "differ", "0.5", "0.25"}},
      {"zero scale", Adapted("q", bf16, 4, 6, 2, 0), {"tensor 'q.lora_A'", "lora.scale is 0"}},
      {"NaN scale", Adapted("q", bf16, 4, 6, 2, NAN), {"tensor 'q.lora_A'", "lora.scale is nan"}},
      {"scale over float32",
       Adapted("q", bf16, 4, 6, 2, 1e300),
       {"tensor 'q.lora_A'", "lora.scale is 1e+300", "also as float32"}},
      {"scale under float32",
       Adapted("q", bf16, 4, 6, 2, 1e-50),
       {"tensor 'q.lora_A'", "also as float32"}},
      {"infinite scale on B",
       with(2, [](TensorDef& t) { t.scale = INFINITY; }),
       {"tensor 'q.lora_B'", "lora.scale is inf"}},
      {"shapes",
       with(1,
            [](TensorDef& t) {
              t.shape = {2, 5};
            }),
       {"tensor 'q'", "A ('q.lora_A') [2, 5]", "accepted: W [m, n], A [r, n], B [m, r]"}},
      {"W not 2-D", with(0, [](TensorDef& t) { t.shape = {24}; }), {"tensor 'q'", "W is [24]"}},
      {"dtypes differ",
       with(1, [](TensorDef& t) { t.dtype = v1::DTYPE_FLOAT32; }),
       {"tensor 'q'", "bfloat16, float32 and bfloat16",
        "all float32, all float16 or all bfloat16"}},
      {"integer weights", Adapted("q", v1::DTYPE_INT8, 4, 6, 2, 0.5), {"tensor 'q'", "int8"}},
      {"role unset",
       with(1, [](TensorDef& t) { t.role = v1::LORA_ROLE_UNSPECIFIED; }),
       {"tensor 'q.lora_A'", "lora.role is LORA_ROLE_UNSPECIFIED"}},
      {"no base",
       with(2, [](TensorDef& t) { t.base = ""; }),
       {"tensor 'q.lora_B'", "lora.base is empty"}},
      {"base is an adapter",
       Concat({q, {{"x", bf16, {2, 6}, v1::LORA_ROLE_A, "q.lora_A", 0.5}}}),
       {"tensor 'q.lora_A'", "itself an adapter"}},
  };
  for (const Case& c : cases) {
    INFO(c.what);
    Fixture f;
    f.Register("good", 0, Trainer());
    FillTrainer(f, "good");
    f.Register("bad", 3, c.tensors);
    const std::vector<uint8_t> before = f.Snapshot();
    absl::StatusOr<v1::LoraResponse> merged = f.Merge(1, {{"good", 0}, {"bad", 3}});
    INFO(merged.status().ToString());
    CHECK(merged.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(std::string(merged.status().message()).find("endpoint bad rank 3") != std::string::npos);
    for (const std::string& said : c.said) {
      CHECK(std::string(merged.status().message()).find(said) != std::string::npos);
    }
    CHECK(f.Snapshot() == before);  // "good" was not merged either.
    CHECK(f.memory.live_bytes() == 0);
  }
}

TEST_CASE("Requests that name no mergeable endpoint are refused", "[lora_merger]") {
  Fixture f;
  f.Register("trainer", 0, Trainer());
  CHECK(f.Merge(0, {{"trainer", 0}}).status().code() == absl::StatusCode::kInvalidArgument);
  absl::StatusOr<v1::LoraResponse> twice = f.Merge(1, {{"trainer", 0}, {"trainer", 0}});
  CHECK(twice.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(twice.status().message()).find("trainer rank 0 twice") != std::string::npos);
  CHECK(f.Merge(1, {{"trainer", 1}}).status().code() == absl::StatusCode::kNotFound);
  // An endpoint without adapters merges nothing.
  f.Register("plain", 0, {{"w", v1::DTYPE_FLOAT32, {2, 2}}});
  absl::StatusOr<v1::LoraResponse> plain = f.Merge(1, {{"plain", 0}});
  REQUIRE(plain.ok());
  CHECK(plain->base_weights() == 0);
  CHECK(f.memory.live_bytes() == 0);
  f.registry.MarkGone({"trainer", 0}, *f.registry.Registration({"trainer", 0}));
  CHECK(f.Merge(1, {{"trainer", 0}}).status().code() == absl::StatusCode::kFailedPrecondition);
}

TEST_CASE("A failure midway restores everything the merge did", "[lora_merger]") {
  Fixture f;
  f.Register("a", 0, Trainer());
  f.Register("b", 0,
             Concat({Adapted("k", v1::DTYPE_FLOAT32, 3, 4, 2, 1.5),
                     Adapted("m", v1::DTYPE_FLOAT32, 3, 4, 2, 1.5)}));
  FillTrainer(f, "a");
  f.FillSmall("b", "k");
  f.FillSmall("b", "m");
  const std::vector<uint8_t> before = f.Snapshot();
  // Endpoint a's three copies and b's "k" fit, b's "m" does not.
  f.memory.fail_at = 5;
  absl::StatusOr<v1::LoraResponse> merged = f.Merge(2, {{"a", 0}, {"b", 0}});
  INFO(merged.status().ToString());
  CHECK(merged.status().code() == absl::StatusCode::kResourceExhausted);
  CHECK(std::string(merged.status().message()).find("endpoint b rank 0, tensor 'm'") !=
        std::string::npos);
  CHECK(f.Snapshot() == before);
  CHECK(f.memory.live_bytes() == 0);
  absl::StatusOr<v1::LoraResponse> restored = f.merger.Restore(2);
  REQUIRE(restored.ok());
  CHECK(restored->base_weights() == 0);
  // Nothing is left behind: the same merge now succeeds.
  absl::StatusOr<v1::LoraResponse> retried = f.Merge(2, {{"a", 0}, {"b", 0}});
  REQUIRE(retried.ok());
  CHECK(retried->base_weights() == 5);
}

TEST_CASE("An endpoint still merged under an earlier sync is restored before it merges again",
          "[lora_merger]") {
  Fixture f;
  f.Register("trainer", 0, Trainer());
  FillTrainer(f, "trainer");
  const std::vector<uint8_t> before = f.Snapshot();
  const std::vector<double> q = f.ExpectedMerge("trainer", "q");
  REQUIRE(f.Merge(1, {{"trainer", 0}}).ok());
  absl::StatusOr<v1::LoraResponse> second = f.Merge(2, {{"trainer", 0}});
  REQUIRE(second.ok());
  CHECK(second->base_weights() == 3);
  CHECK(f.Values("trainer", "q") == q);  // Merged once, not twice.
  CHECK(f.memory.live_bytes() == static_cast<size_t>(second->saved_bytes()));
  CHECK(f.merger.Restore(1)->base_weights() == 0);  // Nothing is held under sync 1 any more.
  CHECK(f.merger.Restore(2)->base_weights() == 3);
  CHECK(f.Snapshot() == before);
}

TEST_CASE("Copies of an endpoint registered again or gone since its merge are dropped, unwritten",
          "[lora_merger]") {
  Fixture f;
  const v1::LocalRegisterEndpointRequest request = f.Register("trainer", 0, Trainer());
  FillTrainer(f, "trainer");
  REQUIRE(f.Merge(1, {{"trainer", 0}}).ok());
  const std::vector<uint8_t> merged = f.Snapshot();
  // The process restarted and registered the same memory again.
  REQUIRE(f.registry.RegisterEndpoint(request).ok());
  absl::StatusOr<v1::LoraResponse> restored = f.merger.Restore(1);
  REQUIRE(restored.ok());
  CHECK(restored->base_weights() == 0);
  CHECK(f.Snapshot() == merged);
  CHECK(f.memory.live_bytes() == 0);
  // The process exited.
  REQUIRE(f.Merge(2, {{"trainer", 0}}).ok());
  const std::vector<uint8_t> merged_twice = f.Snapshot();
  f.registry.MarkGone({"trainer", 0}, *f.registry.Registration({"trainer", 0}));
  CHECK(f.merger.Restore(2)->base_weights() == 0);
  CHECK(f.Snapshot() == merged_twice);
  CHECK(f.memory.live_bytes() == 0);
}

TEST_CASE("Restore(0) restores what every sync merged", "[lora_merger]") {
  Fixture f;
  f.Register("a", 0, Trainer());
  f.Register("b", 0, Adapted("k", v1::DTYPE_FLOAT32, 3, 4, 2, 1.5));
  FillTrainer(f, "a");
  f.FillSmall("b", "k");
  const std::vector<uint8_t> before = f.Snapshot();
  REQUIRE(f.Merge(1, {{"a", 0}}).ok());
  REQUIRE(f.Merge(2, {{"b", 0}}).ok());
  CHECK(f.Snapshot() != before);
  CHECK(f.merger.Restore(0)->base_weights() == 4);
  CHECK(f.Snapshot() == before);
  CHECK(f.memory.live_bytes() == 0);
}

TEST_CASE("AgentControl.Lora merges and restores; an Abort restores what its sync merged",
          "[lora_merger]") {
  Fixture f;
  f.Register("trainer", 0, Trainer());
  FillTrainer(f, "trainer");
  const std::vector<uint8_t> before = f.Snapshot();
  DataPlane data = MakeHostDataPlane([](const std::string& address) {
    return grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  });
  GroupTable groups(data.transport.get());
  TaskRunner runner(&f.registry, &groups, data.transport.get(), &f.memory);
  DigestRunner digests(&f.registry, &f.memory);
  AgentControlService service(&f.registry, &groups, &runner, data.transport.get(), &digests,
                              &f.merger);
  v1::LoraRequest merge;
  merge.set_sync_id(3);
  merge.set_action(v1::LORA_ACTION_MERGE);
  *merge.mutable_endpoints() = Refs({{"trainer", 0}});
  v1::LoraResponse response;
  grpc::Status status = service.Lora(nullptr, &merge, &response);
  INFO(status.error_message());
  REQUIRE(status.ok());
  CHECK(response.base_weights() == 3);
  CHECK(response.saved_bytes() == 120);
  CHECK(f.Snapshot() != before);

  v1::AbortRequest abort;
  v1::AbortResponse aborted;
  abort.set_sync_id(4);  // Another sync.
  REQUIRE(service.Abort(nullptr, &abort, &aborted).ok());
  CHECK(f.Snapshot() != before);
  abort.set_sync_id(3);
  REQUIRE(service.Abort(nullptr, &abort, &aborted).ok());
  CHECK(f.Snapshot() == before);
  CHECK(f.memory.live_bytes() == 0);

  REQUIRE(service.Lora(nullptr, &merge, &response).ok());
  v1::LoraRequest restore;
  restore.set_sync_id(3);
  restore.set_action(v1::LORA_ACTION_RESTORE);
  REQUIRE(service.Lora(nullptr, &restore, &response).ok());
  CHECK(response.base_weights() == 3);
  CHECK(f.Snapshot() == before);

  restore.set_sync_id(0);
  CHECK(service.Lora(nullptr, &restore, &response).error_code() ==
        grpc::StatusCode::INVALID_ARGUMENT);
  merge.set_action(v1::LORA_ACTION_UNSPECIFIED);
  status = service.Lora(nullptr, &merge, &response);
  CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(status.error_message().find("LORA_ACTION_MERGE") != std::string::npos);
  CHECK(f.Snapshot() == before);
}

}  // namespace
}  // namespace paramsync::agent
