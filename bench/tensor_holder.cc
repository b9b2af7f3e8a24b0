// tensor_holder: a framework process (one trainer or inference rank) for demos
// and tests. It registers a transformer-shaped parameter set with its agent
// (--preset), or the tensors a framework layout gives its rank
// (--layout_preset, --model_config: their logical pieces come from the
// coordinator), then answers commands on stdin, one per line, with one line on
// stdout:
//   fill V    -> "ok"                       write version V's values (trainer)
//   verify V  -> "ok <tensors> <bytes>" or "mismatch <details>"
//                                            check every byte against version V
//   version   -> "ok <version held>"
//   quit
// Startup prints "ready" once registered, or "error <CODE> <message>" and exits 1.
// TLS and the bearer token come from the PARAMSYNC_* environment variables or
// the --tls_* / --token_file flags.
#include <csignal>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "bench/logical_fill.h"
#include "bench/model_layout.h"
#include "client/client_security.h"
#include "client/host_endpoint.h"
#include "common/layouts/expand_layout.h"
#include "common/layouts/model_config.h"
#ifdef PARAMSYNC_WITH_CUDA
#include "client/device_endpoint.h"
#endif

ABSL_FLAG(std::string, agent, "", "agent host:port");
ABSL_FLAG(std::string, model, "", "model name");
ABSL_FLAG(std::string, role, "trainer", "trainer or inference");
ABSL_FLAG(int, rank, 0, "rank in the model");
ABSL_FLAG(int, replica, 0, "inference replica");
ABSL_FLAG(int, local_rank, 0, "rank inside the inference replica");
ABSL_FLAG(int, tp_size, 1, "tensor parallel size");
ABSL_FLAG(int, tp_rank, 0, "tensor parallel rank");
ABSL_FLAG(int, dp_size, 1, "trainer data parallel size");
ABSL_FLAG(int, dp_rank, 0, "trainer data parallel rank");
ABSL_FLAG(int, ep_size, 1, "trainer expert parallel size (divides dp_size)");
ABSL_FLAG(int, pp_size, 1, "pipeline stages (inference: of each replica)");
ABSL_FLAG(int, pp_rank, 0, "pipeline stage: holds its share of the layers");
ABSL_FLAG(int, ep_rank, 0, "trainer expert parallel rank");
ABSL_FLAG(std::string, expert_layout, "tp",
          "inference: how routed experts are held: 'experts' (each rank a block of whole "
          "experts) or 'tp' (every expert, split by TP)");
ABSL_FLAG(std::string, preset, "small", "parameter set: tiny, small, transformer-100m");
ABSL_FLAG(std::string, layout_preset, "",
          "register the tensors of a framework layout instead of --preset: megatron-core-gpt, "
          "megatron-core-gpt-local, vllm or hf");
ABSL_FLAG(std::string, model_config, "qwen2-tiny",
          "with --layout_preset, the model: qwen2-tiny, qwen2-tiny-tied, llama-tiny, "
          "qwen2-moe-tiny, qwen3-moe-tiny, qwen2.5-0.5b, qwen2.5-7b");
ABSL_FLAG(uint64_t, seed, 1, "seed of the deterministic weights");
ABSL_FLAG(std::string, device, "cpu", "where the tensors live: cpu (shared memory) or cuda:N");
ABSL_FLAG(std::string, mismatch, "",
          "register a broken parameter set: 'dtype' or 'shape' of the first tensor differs");
ABSL_FLAG(std::string, tls_ca, "", "PEM CA verifying the agent (TLS)");
ABSL_FLAG(std::string, tls_cert, "", "PEM client certificate (mutual TLS)");
ABSL_FLAG(std::string, tls_key, "", "PEM key of --tls_cert");
ABSL_FLAG(std::string, tls_server_name, "", "name to verify in the agent's certificate");
ABSL_FLAG(std::string, token_file, "", "file holding the bearer token");

namespace paramsync::bench {
namespace {

std::string CodeName(absl::StatusCode code) { return absl::StatusCodeToString(code); }

volatile sig_atomic_t terminated = 0;
void OnTerminate(int) { terminated = 1; }

// SIGTERM ends the command loop like end-of-input, so that destructors run and
// the shared-memory region is unlinked. Without SA_RESTART a blocked read
// returns at once.
void EndLoopOnSigterm() {
  struct sigaction action = {};
  action.sa_handler = OnTerminate;
  sigaction(SIGTERM, &action, nullptr);
}

// Writes the bytes tensor `index` (of the registered declarations) holds at
// weights `version` into `out`, which has exactly its bytes.
using TensorFiller =
    std::function<absl::Status(size_t index, int64_t version, void* out, uint64_t bytes)>;

// The tensors a rank registers and their contents at every version.
struct RankTensors {
  std::vector<client::TensorDecl> decls;
  TensorFiller fill;
};

class Holder {
 public:
  Holder(std::vector<std::string> names, TensorFiller fill,
         std::unique_ptr<client::Endpoint> endpoint)
      : names_(std::move(names)), fill_(std::move(fill)), endpoint_(std::move(endpoint)) {}

  std::string Fill(int64_t version) {
    for (size_t i = 0; i < names_.size(); ++i) {
      std::vector<char> bytes(endpoint_->Bytes(names_[i]));
      absl::Status status = fill_(i, version, bytes.data(), bytes.size());
      if (status.ok()) status = endpoint_->Write(names_[i], bytes.data(), bytes.size());
      if (!status.ok()) return absl::StrCat("error ", status.message());
    }
    return "ok";
  }

  std::string Verify(int64_t version) {
    uint64_t bytes = 0;
    for (size_t i = 0; i < names_.size(); ++i) {
      const uint64_t n = endpoint_->Bytes(names_[i]);
      std::vector<char> expected(n), actual(n);
      absl::Status status = fill_(i, version, expected.data(), n);
      if (status.ok()) status = endpoint_->Read(names_[i], actual.data(), n);
      if (!status.ok()) return absl::StrCat("error ", status.message());
      if (actual != expected) {
        uint64_t first = 0, differing = 0;
        for (uint64_t i = 0; i < n; ++i) {
          if (actual[i] != expected[i]) {
            if (differing++ == 0) first = i;
          }
        }
        return absl::StrCat("mismatch ", names_[i], ": ", differing, " of ", n,
                            " bytes differ, first at byte ", first);
      }
      bytes += n;
    }
    return absl::StrCat("ok ", names_.size(), " ", bytes);
  }

  std::string Version() {
    absl::StatusOr<int64_t> version = endpoint_->Version();
    if (!version.ok()) return absl::StrCat("error ", version.status().message());
    return absl::StrCat("ok ", *version);
  }

 private:
  const std::vector<std::string> names_;
  const TensorFiller fill_;
  const std::unique_ptr<client::Endpoint> endpoint_;
};

// The memory the tensors live in: host shared memory, or a GPU ("cuda:N").
absl::StatusOr<std::unique_ptr<client::Endpoint>> Register(
    const std::string& agent, const std::string& device, const v1::EndpointSpec& spec,
    const std::vector<client::TensorDecl>& decls) {
  if (device == "cpu") return client::HostEndpoint::Register(agent, spec, decls);
  int ordinal = -1;
  if (absl::StartsWith(device, "cuda:") && absl::SimpleAtoi(device.substr(5), &ordinal)) {
#ifdef PARAMSYNC_WITH_CUDA
    return client::DeviceEndpoint::Register(agent, spec, decls, ordinal);
#else
    return absl::FailedPreconditionError("this tensor_holder was built without CUDA");
#endif
  }
  return absl::InvalidArgumentError(
      absl::StrCat("--device is '", device, "'; accepted: cpu, cuda:N"));
}

// The environment's client settings, each overridden by its flag when given.
absl::Status ConfigureSecurity() {
  SecurityConfig config = SecurityConfig::FromEnvironment();
  auto set = [](std::string* field, const std::string& flag) {
    if (!flag.empty()) *field = flag;
  };
  set(&config.tls_ca, absl::GetFlag(FLAGS_tls_ca));
  set(&config.tls_cert, absl::GetFlag(FLAGS_tls_cert));
  set(&config.tls_key, absl::GetFlag(FLAGS_tls_key));
  set(&config.tls_server_name, absl::GetFlag(FLAGS_tls_server_name));
  set(&config.token_file, absl::GetFlag(FLAGS_token_file));
  return client::SetClientSecurity(config);
}

// The --preset parameter set, as the rank of `spec` holds it.
absl::StatusOr<RankTensors> PresetTensors(const v1::EndpointSpec& spec) {
  absl::StatusOr<ModelShape> shape = ModelPreset(absl::GetFlag(FLAGS_preset));
  if (!shape.ok()) return shape.status();
  const v1::ParallelConfig& p = spec.parallel();
  auto parameters = std::make_shared<const std::vector<ParameterLayout>>(
      PipelineStage(TransformerParameters(*shape), shape->layers, p.pp_size(), p.pp_rank()));
  const bool trainer = spec.role() == v1::ROLE_TRAINER;
  const std::string expert_layout = absl::GetFlag(FLAGS_expert_layout);
  if (expert_layout != "experts" && expert_layout != "tp") {
    return absl::InvalidArgumentError(
        absl::StrCat("--expert_layout is '", expert_layout, "'; accepted: experts, tp"));
  }
  RankLayout layout{p.tp_size(), p.tp_rank()};
  if (trainer) {
    layout.expert_parts = p.ep_size();
    layout.expert_part = p.ep_rank();
  } else if (expert_layout == "experts") {
    layout.expert_parts = p.tp_size();
    layout.expert_part = layout.tp_rank;
    layout.experts_tp_split = false;
  }
  const uint64_t seed = absl::GetFlag(FLAGS_seed);
  return RankTensors{
      ShardDecls(*parameters, layout),
      [parameters, layout, seed](size_t i, int64_t version, void* out, uint64_t bytes) {
        return FillShard((*parameters)[i], seed, version, layout, out, bytes);
      }};
}

// The tensors --layout_preset gives the rank of `spec` for --model_config;
// sets spec->layout, from which the coordinator derives their logical pieces.
absl::StatusOr<RankTensors> LayoutTensors(v1::EndpointSpec* spec) {
  absl::StatusOr<v1::ModelConfig> model =
      layouts::NamedModelConfig(absl::GetFlag(FLAGS_model_config));
  if (!model.ok()) return model.status();
  spec->mutable_layout()->set_preset(absl::GetFlag(FLAGS_layout_preset));
  *spec->mutable_layout()->mutable_model() = *model;
  absl::StatusOr<std::vector<v1::ParameterSpec>> tensors = layouts::ExpandLayout(*spec);
  if (!tensors.ok()) return tensors.status();
  RankTensors out;
  for (const v1::ParameterSpec& t : *tensors) {
    out.decls.push_back({t.name(),
                         t.dtype(),
                         {t.shape().begin(), t.shape().end()},
                         t.has_tp_split_dim() ? std::optional<int>(t.tp_split_dim()) : std::nullopt,
                         std::nullopt});
  }
  auto specs = std::make_shared<const std::vector<v1::ParameterSpec>>(*std::move(tensors));
  const uint64_t seed = absl::GetFlag(FLAGS_seed);
  out.fill = [specs, seed](size_t i, int64_t version, void* buffer, uint64_t bytes) {
    return FillFromPieces((*specs)[i], seed, version, buffer, bytes);
  };
  return out;
}

v1::EndpointSpec EndpointFromFlags() {
  const bool trainer = absl::GetFlag(FLAGS_role) == "trainer";
  v1::EndpointSpec spec;
  spec.set_model(absl::GetFlag(FLAGS_model));
  spec.set_role(trainer ? v1::ROLE_TRAINER : v1::ROLE_INFERENCE);
  spec.set_rank(absl::GetFlag(FLAGS_rank));
  spec.set_replica(absl::GetFlag(FLAGS_replica));
  spec.set_local_rank(absl::GetFlag(FLAGS_local_rank));
  v1::ParallelConfig* parallel = spec.mutable_parallel();
  parallel->set_tp_size(absl::GetFlag(FLAGS_tp_size));
  parallel->set_tp_rank(absl::GetFlag(FLAGS_tp_rank));
  parallel->set_pp_size(absl::GetFlag(FLAGS_pp_size));
  parallel->set_pp_rank(absl::GetFlag(FLAGS_pp_rank));
  parallel->set_ep_size(trainer ? absl::GetFlag(FLAGS_ep_size) : 1);
  parallel->set_ep_rank(trainer ? absl::GetFlag(FLAGS_ep_rank) : 0);
  parallel->set_dp_size(absl::GetFlag(FLAGS_dp_size));
  parallel->set_dp_rank(absl::GetFlag(FLAGS_dp_rank));
  return spec;
}

int Run() {
  if (absl::Status security = ConfigureSecurity(); !security.ok()) {
    std::cout << "error " << CodeName(security.code()) << " " << security.message() << std::endl;
    return 1;
  }
  v1::EndpointSpec spec = EndpointFromFlags();
  absl::StatusOr<RankTensors> tensors =
      absl::GetFlag(FLAGS_layout_preset).empty() ? PresetTensors(spec) : LayoutTensors(&spec);
  if (!tensors.ok()) {
    std::cout << "error " << CodeName(tensors.status().code()) << " " << tensors.status().message()
              << std::endl;
    return 1;
  }
  std::vector<client::TensorDecl>& decls = tensors->decls;
  const std::string mismatch = absl::GetFlag(FLAGS_mismatch);
  if (mismatch == "dtype") {
    decls[0].dtype = decls[0].dtype == v1::DTYPE_FLOAT32 ? v1::DTYPE_FLOAT16 : v1::DTYPE_FLOAT32;
  } else if (mismatch == "shape") {
    decls[0].shape[1] += 1;
  }

  absl::StatusOr<std::unique_ptr<client::Endpoint>> endpoint =
      Register(absl::GetFlag(FLAGS_agent), absl::GetFlag(FLAGS_device), spec, decls);
  if (!endpoint.ok()) {
    std::cout << "error " << CodeName(endpoint.status().code()) << " "
              << endpoint.status().message() << std::endl;
    return 1;
  }
  std::vector<std::string> names;
  for (const client::TensorDecl& decl : decls) names.push_back(decl.name);
  Holder holder(std::move(names), std::move(tensors->fill), *std::move(endpoint));
  EndLoopOnSigterm();
  std::cout << "ready" << std::endl;
  std::string line;
  while (!terminated && std::getline(std::cin, line)) {
    std::vector<std::string> words = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (words.empty()) continue;
    int64_t version = 0;
    if (words[0] == "quit") break;
    if (words[0] == "version") {
      std::cout << holder.Version() << std::endl;
    } else if ((words[0] == "fill" || words[0] == "verify") && words.size() == 2 &&
               absl::SimpleAtoi(words[1], &version)) {
      std::cout << (words[0] == "fill" ? holder.Fill(version) : holder.Verify(version))
                << std::endl;
    } else {
      std::cout << "error unknown command: " << line << std::endl;
    }
  }
  return 0;
}

}  // namespace
}  // namespace paramsync::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return paramsync::bench::Run();
}
