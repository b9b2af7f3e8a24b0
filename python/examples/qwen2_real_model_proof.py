"""Proof on a real model: a Qwen2 model synced from Megatron-Core TP2 into vLLM TP1, TP2 and TP4.

    python3 python/examples/qwen2_real_model_proof.py                 # 4 GPUs
    python3 python/examples/qwen2_real_model_proof.py --device=cpu --config=tiny

The driver builds a Qwen2 model from a config with random weights
(transformers' Qwen2ForCausalLM, fixed seed; nothing is downloaded) and
computes its reference logits on a fixed input. Two trainer processes hold the
model as Megatron-Core does at TP2 (QKV interleaved per query group, gate/up
fused as linear_fc1, vocabulary-parallel embedding and output layer padded to
128 x TP rows), converted from the Hugging Face state dict by the plain code
below. Inference processes hold empty vLLM-style tensors ([q | k | v] qkv_proj
with key/value heads replicated past their count, gate_up_proj, vocabulary
padded to 64 rows) at TP1, TP2 and TP4. Every rank registers its tensors with
the agent of its GPU (CUDA IPC) or, with --device=cpu, of its slot (shared
memory), naming its framework layout (megatron-core-gpt, vllm); one sync group
per inference TP (strategy direct, validate on) syncs --syncs times, the
inference tensors poisoned with NaN before each sync.

With --lora_rank=R the trainer also holds LoRA adapters of rank R on every
linear layer (linear_qkv, linear_proj, linear_fc1, linear_fc2, sharded as
Megatron shards them: B with a column-parallel weight, A with a row-parallel
one), registered as such, and the groups merge them for the sync (lora_mode
merge): the reference is then the Hugging Face model with each adapter merged
into its weights by an exact emulation of the agents' arithmetic (float32 fma
chain in order of r, one rounding to the weight's type), and after the syncs
every trainer process checks that its tensors are bit for bit what they were
(the agents restored the base weights).

After the last sync every inference process saves its tensors; the driver
reassembles a Hugging Face state dict from the vLLM shards (the plain inverse
code below; every replicated copy must be identical), loads it into a fresh
Qwen2ForCausalLM and checks every weight bit for bit and the logits on the
fixed input for exact equality with the reference. Prints a table and a last
JSON line ({"results": [...]}); exits 1 on any mismatch or failure.

The daemons: --coordinator and --agents (one agent per slot: GPU i or host
slot i) name running ones; without them the script starts a coordinator and
one agent per slot from $PARAMSYNC_BIN_DIR (else bazel-bin), as the Python
tests do (python/tests/_cluster.py). Needs PyTorch and transformers.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing
import os
import sys
import tempfile
import time
import traceback
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(_HERE, ".."))

import paramsync  # noqa: E402
import torch  # noqa: E402

# Shared by CUDA IPC, which expandable segments cannot do: set before any
# process (the spawned ranks inherit the environment) allocates on a GPU.
os.environ.pop("PYTORCH_CUDA_ALLOC_CONF", None)
os.environ.setdefault("NCCL_NVLS_ENABLE", "0")

TRAINER_TP = 2
TRAINER_MODEL = "qwen2_megatron_tp2"
REPLY_TIMEOUT_S = 600.0
SEED = 1234

# Qwen2 configurations whose heads and key/value heads split over TP 1, 2 and
# 4 in both layouts (Megatron splits query groups, vLLM query heads; 2
# key/value heads are replicated at TP4). "proof": 12 layers of hidden 1024
# with Qwen2's real vocabulary (0.75 B parameters; Megatron pads it at TP2,
# vLLM needs no padding); "tiny": the CPU test's, with a vocabulary both pad.
CONFIGS: Dict[str, Dict[str, Any]] = {
    "proof": dict(hidden_size=1024, num_hidden_layers=12, num_attention_heads=16,
                  num_key_value_heads=2, intermediate_size=4864, vocab_size=151936,
                  max_position_embeddings=4096, tie_word_embeddings=False),
    "tiny": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=8,
                 num_key_value_heads=2, intermediate_size=96, vocab_size=250,
                 max_position_embeddings=256, tie_word_embeddings=False),
}


@dataclasses.dataclass(frozen=True)
class Shapes:
    """The dimensions of a Qwen2 config that decide its tensors."""

    hidden: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    vocab: int
    tied: bool

    @classmethod
    def of(cls, config: Mapping[str, Any]) -> "Shapes":
        heads = int(config["num_attention_heads"])
        return cls(hidden=int(config["hidden_size"]), layers=int(config["num_hidden_layers"]),
                   heads=heads, kv_heads=int(config.get("num_key_value_heads") or heads),
                   head_dim=int(config.get("head_dim") or config["hidden_size"] // heads),
                   intermediate=int(config["intermediate_size"]),
                   vocab=int(config["vocab_size"]),
                   tied=bool(config.get("tie_word_embeddings", False)))

    @property
    def q_per_group(self) -> int:
        return self.heads // self.kv_heads


def padded(rows: int, multiple: int) -> int:
    return (rows + multiple - 1) // multiple * multiple


def layer(i: int) -> str:
    return "model.layers.%d." % i


# -- Hugging Face -> Megatron-Core (the trainer ranks) -------------------------

def interleaved(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, s: Shapes, tp: int,
                rank: int) -> torch.Tensor:
    """TP rank ``rank``'s rows of Megatron's fused QKV: per query group g its
    q_per_group query heads, then key head g, then value head g."""
    rest = q.shape[1:]
    groups = torch.cat([q.reshape(s.kv_heads, s.q_per_group * s.head_dim, *rest),
                        k.reshape(s.kv_heads, s.head_dim, *rest),
                        v.reshape(s.kv_heads, s.head_dim, *rest)], dim=1)
    return groups.chunk(tp)[rank].reshape(-1, *rest)


def fused_gate_up(gate: torch.Tensor, up: torch.Tensor, tp: int, rank: int) -> torch.Tensor:
    """TP rank ``rank``'s rows of Megatron's fused linear_fc1: its gate rows, then its up rows."""
    return torch.cat([gate.chunk(tp)[rank], up.chunk(tp)[rank]])


def megatron_shard(hf: Mapping[str, torch.Tensor], s: Shapes, tp: int,
                   rank: int) -> Dict[str, torch.Tensor]:
    """Megatron-Core GPT's tensors (Transformer Engine layer spec) of TP rank ``rank``."""
    def vocab_rows(weight: torch.Tensor) -> torch.Tensor:
        rows = padded(s.vocab, 128 * tp)  # make_vocab_size_divisible_by 128, times TP.
        full = torch.zeros((rows, s.hidden), dtype=weight.dtype)
        full[:s.vocab] = weight
        return full.chunk(tp)[rank]

    out = {"embedding.word_embeddings.weight": vocab_rows(hf["model.embed_tokens.weight"])}
    for i in range(s.layers):
        src, dst = layer(i), "decoder.layers.%d." % i
        attn = src + "self_attn."
        qkv = dst + "self_attention.linear_qkv."
        out[qkv + "layer_norm_weight"] = hf[src + "input_layernorm.weight"]
        for kind in ("weight", "bias"):
            out[qkv + kind] = interleaved(
                hf[attn + "q_proj." + kind], hf[attn + "k_proj." + kind],
                hf[attn + "v_proj." + kind], s, tp, rank)
        out[dst + "self_attention.linear_proj.weight"] = hf[attn + "o_proj.weight"].chunk(
            tp, dim=1)[rank]
        out[dst + "mlp.linear_fc1.layer_norm_weight"] = hf[src + "post_attention_layernorm.weight"]
        out[dst + "mlp.linear_fc1.weight"] = fused_gate_up(
            hf[src + "mlp.gate_proj.weight"], hf[src + "mlp.up_proj.weight"], tp, rank)
        out[dst + "mlp.linear_fc2.weight"] = hf[src + "mlp.down_proj.weight"].chunk(
            tp, dim=1)[rank]
    out["decoder.final_layernorm.weight"] = hf["model.norm.weight"]
    if not s.tied:  # Tied on one pipeline stage: the output layer is the embedding.
        out["output_layer.weight"] = vocab_rows(hf["lm_head.weight"])
    return {name: t.contiguous().clone() for name, t in out.items()}


# -- LoRA adapters (--lora_rank) ----------------------------------------------

LORA_SCALE = 2.0  # alpha / r


def lora_adapters(s: Shapes, r: int, dtype: Any, seed: int) -> Dict[str, torch.Tensor]:
    """Random adapters of rank ``r`` on every linear layer, in Hugging Face terms:
    per layer, q/k/v share one A (Megatron's fused linear_qkv has one adapter),
    as do gate/up (linear_fc1); o_proj and down_proj have their own."""
    generator = torch.Generator().manual_seed(seed)

    def random(*shape: int) -> torch.Tensor:
        return (0.02 * torch.randn(shape, generator=generator)).to(dtype)

    q_rows, kv_rows = s.heads * s.head_dim, s.kv_heads * s.head_dim
    out: Dict[str, torch.Tensor] = {}
    for i in range(s.layers):
        p = layer(i)
        out.update({p + "A_qkv": random(r, s.hidden), p + "B_q": random(q_rows, r),
                    p + "B_k": random(kv_rows, r), p + "B_v": random(kv_rows, r),
                    p + "A_o": random(r, q_rows), p + "B_o": random(s.hidden, r),
                    p + "A_fc1": random(r, s.hidden), p + "B_gate": random(s.intermediate, r),
                    p + "B_up": random(s.intermediate, r),
                    p + "A_fc2": random(r, s.intermediate), p + "B_fc2": random(s.hidden, r)})
    return out


# Hugging Face weight -> the adapter (A, B) that updates it.
_LORA_OF = {"self_attn.q_proj.weight": ("A_qkv", "B_q"), "self_attn.k_proj.weight": ("A_qkv", "B_k"),
            "self_attn.v_proj.weight": ("A_qkv", "B_v"), "self_attn.o_proj.weight": ("A_o", "B_o"),
            "mlp.gate_proj.weight": ("A_fc1", "B_gate"), "mlp.up_proj.weight": ("A_fc1", "B_up"),
            "mlp.down_proj.weight": ("A_fc2", "B_fc2")}


def merged_weight(w: torch.Tensor, a: torch.Tensor, b: torch.Tensor, scale: float) -> torch.Tensor:
    """W + scale * B @ A exactly as the agents compute it (common/low_rank_merge.h): in
    float32, acc = W, then for each k in order acc = fma(float32(scale * B[:, k]), A[k], acc),
    then one rounding to W's type. Emulated in float64: the product of two float32 is exact
    there, and the sum is checked to be exact (two-sum error 0), so rounding it once to
    float32 is the fma's single rounding. Raises ArithmeticError if it is not."""
    acc = w.float()
    scaled_b = torch.tensor(scale, dtype=torch.float32) * b.float()
    for k in range(a.shape[0]):
        product = scaled_b[:, k:k + 1].double() * a[k:k + 1, :].double()
        total = acc.double() + product
        back = total - acc.double()
        error = (acc.double() - (total - back)) + (product - back)
        if bool((error != 0).any()):
            raise ArithmeticError("the float64 emulation of the fma chain is not exact")
        acc = total.float()
    return acc.to(w.dtype)


def merged_reference(hf: Mapping[str, torch.Tensor], adapters: Mapping[str, torch.Tensor],
                     s: Shapes) -> Dict[str, torch.Tensor]:
    """The Hugging Face state dict with every adapter merged into its weight."""
    out = dict(hf)
    for i in range(s.layers):
        p = layer(i)
        for name, (a, b) in _LORA_OF.items():
            out[p + name] = merged_weight(hf[p + name], adapters[p + a], adapters[p + b],
                                          LORA_SCALE)
    return out


def megatron_lora_shard(adapters: Mapping[str, torch.Tensor], s: Shapes, tp: int, rank: int
                        ) -> Tuple[Dict[str, torch.Tensor], Dict[str, paramsync.LoraAdapter]]:
    """TP rank ``rank``'s adapter tensors, sharded as Megatron shards them (B with a
    column-parallel weight, A with a row-parallel one), and their LoRA declarations."""
    tensors: Dict[str, torch.Tensor] = {}
    declared: Dict[str, paramsync.LoraAdapter] = {}
    for i in range(s.layers):
        p, dst = layer(i), "decoder.layers.%d." % i
        shards = {
            dst + "self_attention.linear_qkv.": (
                adapters[p + "A_qkv"],
                interleaved(adapters[p + "B_q"], adapters[p + "B_k"], adapters[p + "B_v"], s,
                            tp, rank)),
            dst + "self_attention.linear_proj.": (adapters[p + "A_o"].chunk(tp, dim=1)[rank],
                                                  adapters[p + "B_o"]),
            dst + "mlp.linear_fc1.": (
                adapters[p + "A_fc1"],
                fused_gate_up(adapters[p + "B_gate"], adapters[p + "B_up"], tp, rank)),
            dst + "mlp.linear_fc2.": (adapters[p + "A_fc2"].chunk(tp, dim=1)[rank],
                                      adapters[p + "B_fc2"]),
        }
        for module, (a, b) in shards.items():
            for role, tensor in (("A", a), ("B", b)):
                name = module + "lora_%s.weight" % role
                tensors[name] = tensor.contiguous().clone()
                declared[name] = paramsync.LoraAdapter(role, module + "weight", LORA_SCALE)
    return tensors, declared


# -- vLLM (the inference ranks) and back to Hugging Face ------------------------

def vllm_kv_heads(s: Shapes, tp: int, rank: int) -> Tuple[int, int]:
    """(first, count) of the key/value heads vLLM's QKVParallelLinear gives TP rank ``rank``."""
    if tp >= s.kv_heads:  # Each head replicated on tp / kv_heads consecutive ranks.
        return rank // (tp // s.kv_heads), 1
    return rank * (s.kv_heads // tp), s.kv_heads // tp


def vllm_shapes(s: Shapes, tp: int) -> Dict[str, Tuple[int, ...]]:
    """Every vLLM Qwen2 parameter of one TP rank and its shape (the same on every rank)."""
    vocab = padded(s.vocab, 64) // tp  # VocabParallelEmbedding / ParallelLMHead padding.
    qkv_rows = (s.heads // tp + 2 * vllm_kv_heads(s, tp, 0)[1]) * s.head_dim
    out: Dict[str, Tuple[int, ...]] = {"model.embed_tokens.weight": (vocab, s.hidden)}
    for i in range(s.layers):
        p = layer(i)
        out.update({
            p + "input_layernorm.weight": (s.hidden,),
            p + "self_attn.qkv_proj.weight": (qkv_rows, s.hidden),
            p + "self_attn.qkv_proj.bias": (qkv_rows,),
            p + "self_attn.o_proj.weight": (s.hidden, s.heads * s.head_dim // tp),
            p + "post_attention_layernorm.weight": (s.hidden,),
            p + "mlp.gate_up_proj.weight": (2 * s.intermediate // tp, s.hidden),
            p + "mlp.down_proj.weight": (s.hidden, s.intermediate // tp),
        })
    out["model.norm.weight"] = (s.hidden,)
    if not s.tied:  # Tied, vLLM's lm_head is embed_tokens.
        out["lm_head.weight"] = (vocab, s.hidden)
    return out


class ReplicaMismatch(Exception):
    """Two TP ranks hold different values for what both should hold whole."""


def same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Whether two tensors have the same dtype, shape and bytes (NaN and -0.0 included)."""
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    ints = {1: torch.int8, 2: torch.int16, 4: torch.int32, 8: torch.int64}[a.element_size()]
    return torch.equal(a.contiguous().view(ints), b.contiguous().view(ints))


def replicated(name: str, copies: Sequence[torch.Tensor]) -> torch.Tensor:
    for rank, copy in enumerate(copies[1:], 1):
        if not same_bits(copy, copies[0]):
            raise ReplicaMismatch("%s differs between TP ranks 0 and %d" % (name, rank))
    return copies[0]


def hf_from_vllm(shards: Sequence[Mapping[str, torch.Tensor]],
                 s: Shapes) -> Dict[str, torch.Tensor]:
    """The Hugging Face state dict held by vLLM TP ranks ``shards`` (rank order)."""
    tp = len(shards)
    q_rows = s.heads // tp * s.head_dim

    def cat(name: str, dim: int = 0) -> torch.Tensor:
        return torch.cat([shard[name] for shard in shards], dim=dim)

    def whole(name: str) -> torch.Tensor:
        return replicated(name, [shard[name] for shard in shards])

    def qkv(name: str) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        kv_rows = vllm_kv_heads(s, tp, 0)[1] * s.head_dim
        parts = [shard[name].split([q_rows, kv_rows, kv_rows]) for shard in shards]
        q = torch.cat([p[0] for p in parts])
        kv = []
        for which in (1, 2):
            heads: Dict[int, List[torch.Tensor]] = {}
            for rank, p in enumerate(parts):
                heads.setdefault(vllm_kv_heads(s, tp, rank)[0], []).append(p[which])
            kv.append(torch.cat([replicated("%s (%s heads from %d)" % (name, "kv"[which - 1], h),
                                            copies) for h, copies in sorted(heads.items())]))
        return q, kv[0], kv[1]

    out = {"model.embed_tokens.weight": cat("model.embed_tokens.weight")[:s.vocab]}
    for i in range(s.layers):
        p = layer(i)
        for kind in ("weight", "bias"):
            q, k, v = qkv(p + "self_attn.qkv_proj." + kind)
            out[p + "self_attn.q_proj." + kind] = q
            out[p + "self_attn.k_proj." + kind] = k
            out[p + "self_attn.v_proj." + kind] = v
        out[p + "self_attn.o_proj.weight"] = cat(p + "self_attn.o_proj.weight", dim=1)
        halves = [shard[p + "mlp.gate_up_proj.weight"].chunk(2) for shard in shards]
        out[p + "mlp.gate_proj.weight"] = torch.cat([h[0] for h in halves])
        out[p + "mlp.up_proj.weight"] = torch.cat([h[1] for h in halves])
        out[p + "mlp.down_proj.weight"] = cat(p + "mlp.down_proj.weight", dim=1)
        for norm in ("input_layernorm.weight", "post_attention_layernorm.weight"):
            out[p + norm] = whole(p + norm)
    out["model.norm.weight"] = whole("model.norm.weight")
    out["lm_head.weight"] = (out["model.embed_tokens.weight"] if s.tied
                             else cat("lm_head.weight")[:s.vocab])
    return out


# -- The framework processes ----------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Rank:
    """One framework process: a trainer or inference rank on a device, beside its agent."""

    role: str  # "trainer" or "inference"
    model: str
    tp: int
    rank: int
    device: str
    agent: str
    framework_layout: paramsync.FrameworkLayout
    dtype: str
    shapes: Shapes
    hf_path: str = ""  # Trainer: the Hugging Face state dict to convert.
    lora_path: str = ""  # Trainer with --lora_rank: the adapters to convert.

    @property
    def label(self) -> str:
        return "%s rank %d (%s)" % (self.model, self.rank, self.device)


def _rank_tensors(r: Rank) -> Tuple[Dict[str, torch.Tensor], Dict[str, paramsync.LoraAdapter]]:
    """The rank's tensors on its device and its LoRA declarations."""
    if r.role == "trainer":
        hf = torch.load(r.hf_path, map_location="cpu")
        tensors = megatron_shard(hf, r.shapes, r.tp, r.rank)
        declared: Dict[str, paramsync.LoraAdapter] = {}
        if r.lora_path:
            adapters, declared = megatron_lora_shard(torch.load(r.lora_path, map_location="cpu"),
                                                     r.shapes, r.tp, r.rank)
            tensors.update(adapters)
        return {name: t.to(r.device) for name, t in tensors.items()}, declared
    return {name: torch.empty(shape, dtype=getattr(torch, r.dtype), device=r.device)
            for name, shape in vllm_shapes(r.shapes, r.tp).items()}, {}


def _serve_rank(conn: Any, r: Rank) -> None:
    """A framework process: registers its tensors, then poisons or saves them on request."""
    try:
        if r.device.startswith("cuda"):
            torch.cuda.set_device(torch.device(r.device))
        tensors, declared = _rank_tensors(r)
        layout = paramsync.ParallelLayout(tp_size=r.tp, tp_rank=r.rank)
        options: Dict[str, Any] = dict(layout=layout, framework_layout=r.framework_layout,
                                       timeout=60)
        weights: Union[paramsync.TrainerEndpoint, paramsync.InferenceEndpoint] = (
            paramsync.TrainerEndpoint.register(r.agent, r.model, tensors, lora=declared,
                                               **options)
            if r.role == "trainer" else
            paramsync.InferenceEndpoint.register(r.agent, r.model, tensors, **options))
        # What a trainer's tensors must hold again after every sync (merges restored).
        original = ({n: t.cpu().clone() for n, t in weights.tensors.items()}
                    if r.role == "trainer" else {})
        conn.send(("ok", None))
        while True:
            op, argument = conn.recv()
            if op == "exit":
                break
            if op == "poison":  # Whatever a sync does not write stays NaN.
                for t in weights.tensors.values():
                    t.fill_(float("nan"))
                if r.device.startswith("cuda"):
                    torch.cuda.synchronize()
            elif op == "save":
                torch.save({n: t.cpu() for n, t in weights.tensors.items()}, argument)
            elif op == "unchanged":  # Trainer: which tensors differ from the start.
                if r.device.startswith("cuda"):
                    torch.cuda.synchronize()
                changed = sorted(n for n, t in weights.tensors.items()
                                 if not same_bits(t.cpu(), original[n]))
                conn.send(("ok", changed))
                continue
            conn.send(("ok", None))
        weights.close()
    except BaseException:
        conn.send(("error", traceback.format_exc()))


class Ranks:
    """The framework processes, each started by spawn and driven over a pipe."""

    def __init__(self, ranks: Sequence[Rank]) -> None:
        context = multiprocessing.get_context("spawn")
        self.ranks = list(ranks)
        self.pipes = []
        self.processes = []
        for r in self.ranks:
            parent, child = context.Pipe()
            process = context.Process(target=_serve_rank, args=(child, r), name=r.label)
            process.start()
            self.pipes.append(parent)
            self.processes.append(process)

    def wait(self, selected: Optional[Sequence[int]] = None) -> List[Any]:
        """Waits for a reply from each selected rank and returns their details; raises
        RuntimeError naming a failure."""
        details = []
        for i in (range(len(self.ranks)) if selected is None else selected):
            if not self.pipes[i].poll(REPLY_TIMEOUT_S):
                raise RuntimeError("%s did not answer in %.0f s" % (self.ranks[i].label,
                                                                    REPLY_TIMEOUT_S))
            status, detail = self.pipes[i].recv()
            if status != "ok":
                raise RuntimeError("%s failed:\n%s" % (self.ranks[i].label, detail))
            details.append(detail)
        return details

    def ask(self, op: str, selected: Sequence[int], arguments: Sequence[Any]) -> List[Any]:
        for i, argument in zip(selected, arguments):
            self.pipes[i].send((op, argument))
        return self.wait(selected)

    def stop(self) -> None:
        for pipe, process in zip(self.pipes, self.processes):
            if process.is_alive():
                try:
                    pipe.send(("exit", None))
                except OSError:
                    pass
        for process in self.processes:
            process.join(30)
            if process.is_alive():
                process.kill()
                process.join()


# -- The driver -----------------------------------------------------------------

def build_model(config_fields: Mapping[str, Any], dtype: Any, device: str, seed: int) -> Any:
    """A Qwen2ForCausalLM with every parameter random (norms and biases too)."""
    import transformers
    config = transformers.Qwen2Config(**config_fields)
    torch.manual_seed(seed)
    model = transformers.Qwen2ForCausalLM(config)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1.0 + 0.1 * torch.randn_like(p))
            else:
                p.normal_(0.0, 0.02)
    return model.to(dtype=dtype, device=device).eval()


def logits_of(model: Any, input_ids: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=input_ids, use_cache=False).logits


@dataclasses.dataclass
class Result:
    tp: int
    bytes: int
    expected_bytes: int
    sync_ms: List[float]
    max_logit_diff: float = float("nan")
    weights_equal: bool = False
    logits_equal: bool = False
    lora_merged: int = 0  # Base weights the agents merged for the last sync (--lora_rank).
    trainer_unchanged: bool = True  # The trainer's tensors bit-exact after the syncs.
    error: str = ""

    @property
    def passed(self) -> bool:
        return (self.weights_equal and self.logits_equal and self.bytes == self.expected_bytes
                and self.trainer_unchanged and not self.error)


def check_replica(result: Result, shard_paths: Sequence[str], s: Shapes,
                  reference: Mapping[str, torch.Tensor], config: Mapping[str, Any],
                  dtype: Any, device: str, input_ids: torch.Tensor,
                  reference_logits: torch.Tensor) -> None:
    """Reassembles the replica, compares its weights and logits with the reference."""
    shards = [torch.load(path, map_location="cpu") for path in shard_paths]
    try:
        hf = hf_from_vllm(shards, s)
    except ReplicaMismatch as e:
        result.error = str(e)
        return
    differing = sorted(name for name in reference
                       if name not in hf or not same_bits(hf[name], reference[name]))
    fresh = build_model(config, dtype, device, seed=SEED + 1)  # Other values until loaded.
    fresh.load_state_dict({name: hf[name] for name in fresh.state_dict()}, strict=True)
    loaded = {name: t.cpu() for name, t in fresh.state_dict().items()}
    differing += sorted(name + " (loaded)" for name in loaded
                        if not same_bits(loaded[name], reference[name]))
    result.weights_equal = not differing
    if differing:
        result.error = "weights differ: %s" % ", ".join(differing[:5])
    got = logits_of(fresh, input_ids)
    result.max_logit_diff = float((got.float() - reference_logits.float()).abs().max())
    result.logits_equal = same_bits(got, reference_logits)


def synced_bytes(s: Shapes, tp: int, element_size: int) -> int:
    """Bytes of every vLLM rank's tensors less vocabulary padding: what a direct sync writes."""
    elements = 0
    for name, shape in vllm_shapes(s, tp).items():
        rows = shape[0]
        if name in ("model.embed_tokens.weight", "lm_head.weight"):
            rows = sum(max(0, min(shape[0], s.vocab - r * shape[0])) for r in range(tp))
            elements += rows * shape[1]
            continue
        count = 1
        for d in shape:
            count *= d
        elements += count * tp
    return elements * element_size


def print_table(results: Sequence[Result], total_bytes: int) -> None:
    print("model: %.1f MB of weights" % (total_bytes / 1e6))
    print("| inference TP | bytes synced (expected) | sync ms (1st, last) | max |logit diff| "
          "| weights equal | logits equal | LoRA bases merged | trainer unchanged |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        print("| %d | %d (%d) | %s | %g | %s | %s | %d | %s |" % (
            r.tp, r.bytes, r.expected_bytes, ", ".join("%.1f" % ms for ms in r.sync_ms[:1] +
                                                       r.sync_ms[-1:]),
            r.max_logit_diff, "yes" if r.weights_equal else "NO",
            "yes" if r.logits_equal else "NO", r.lora_merged,
            "yes" if r.trainer_unchanged else "NO"))
        if r.error:
            print("  TP%d: %s" % (r.tp, r.error))


def run(args: argparse.Namespace, coordinator: paramsync.Coordinator, agents: Sequence[str],
        work_dir: str) -> List[Result]:
    dtype = getattr(torch, args.dtype)
    device0 = "cuda:0" if args.device == "cuda" else "cpu"
    config = dict(CONFIGS[args.config])
    model = build_model(config, dtype, device0, seed=SEED)
    s = Shapes.of(config)
    trainer_hf = {name: t.detach().cpu().clone() for name, t in model.state_dict().items()}
    hf_path = os.path.join(work_dir, "hf.pt")
    torch.save(trainer_hf, hf_path)
    lora_path = ""
    reference = trainer_hf
    if args.lora_rank:  # What inference must hold: the weights with the adapters merged.
        adapters = lora_adapters(s, args.lora_rank, dtype, SEED + 2)
        lora_path = os.path.join(work_dir, "lora.pt")
        torch.save(adapters, lora_path)
        reference = merged_reference(trainer_hf, adapters, s)
        model.load_state_dict(reference, strict=True)
    generator = torch.Generator().manual_seed(SEED)
    input_ids = torch.randint(0, s.vocab, (2, 16), generator=generator).to(device0)
    reference_logits = logits_of(model, input_ids)
    hf_config = model.config
    del model

    def layout(preset: str) -> paramsync.FrameworkLayout:
        base = paramsync.FrameworkLayout.from_hf_config(preset, hf_config)
        dtype_name = paramsync.DTYPES[args.dtype][0]
        return dataclasses.replace(base, model={**base.model, "dtype": dtype_name})

    def device(slot: int) -> str:
        return "cuda:%d" % slot if args.device == "cuda" else "cpu"

    slots = len(agents)
    ranks = [Rank("trainer", TRAINER_MODEL, TRAINER_TP, r, device(r), agents[r],
                  layout("megatron-core-gpt"), args.dtype, s, hf_path, lora_path)
             for r in range(TRAINER_TP)]
    replicas: Dict[int, List[int]] = {}
    for tp in args.tp:
        for r in range(tp):  # TP1 on the last slot, TP2 on the last two, TP4 on all four.
            slot = slots - tp + r
            replicas.setdefault(tp, []).append(len(ranks))
            ranks.append(Rank("inference", "qwen2_vllm_tp%d" % tp, tp, r, device(slot),
                              agents[slot], layout("vllm"), args.dtype, s))
    processes = Ranks(ranks)
    try:
        processes.wait()
        inference = [i for i, r in enumerate(ranks) if r.role == "inference"]
        trainers = [i for i, r in enumerate(ranks) if r.role == "trainer"]
        results = []
        for tp in args.tp:
            coordinator.create_group("qwen2_tp2_to_tp%d" % tp, TRAINER_MODEL,
                                     "qwen2_vllm_tp%d" % tp, strategy="direct", validate=True)
            element_size = torch.tensor([], dtype=dtype).element_size()
            results.append(Result(tp, 0, synced_bytes(s, tp, element_size), []))
        for _ in range(args.syncs):
            processes.ask("poison", inference, [None] * len(inference))
            for result in results:
                report = coordinator.sync("qwen2_tp2_to_tp%d" % result.tp, timeout=600)
                if not report.validated:
                    result.error = "the sync was not validated"
                result.bytes = report.bytes
                result.sync_ms.append(report.duration_ms)
                result.lora_merged = report.lora_base_weights
                changed = processes.ask("unchanged", trainers, [None] * len(trainers))
                if any(changed):
                    result.trainer_unchanged = False
                    result.error = "trainer tensors changed by the sync: %s" % ", ".join(
                        sum(changed, [])[:5])
        for result in results:
            paths = [os.path.join(work_dir, "vllm_tp%d_rank%d.pt" % (result.tp, r))
                     for r in range(result.tp)]
            processes.ask("save", replicas[result.tp], paths)
            check_replica(result, paths, s, reference, config, dtype, device0, input_ids,
                          reference_logits)
        total = sum(t.numel() * t.element_size() for name, t in reference.items()
                    if not (s.tied and name == "lm_head.weight"))
        print_table(results, total)
        return results
    finally:
        processes.stop()


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda",
                        help="cuda: one agent per GPU, tensors shared by CUDA IPC; cpu: host "
                             "agents, tensors in shared memory")
    parser.add_argument("--config", choices=sorted(CONFIGS), default="proof")
    parser.add_argument("--dtype", choices=("bfloat16", "float32"), default="bfloat16")
    parser.add_argument("--tp", default="1,2,4", help="inference TP sizes, of 1, 2 and 4")
    parser.add_argument("--syncs", type=int, default=2)
    parser.add_argument("--lora_rank", type=int, default=0,
                        help="trainer LoRA adapters of this rank on every linear layer, "
                             "merged for each sync (0: none)")
    parser.add_argument("--coordinator", help="host:port of a running coordinator")
    parser.add_argument("--agents", help="host:port of each slot's agent (GPU i's for cuda)")
    args = parser.parse_args(argv)
    args.tp = [int(t) for t in args.tp.split(",")]
    if any(t not in (1, 2, 4) for t in args.tp) or args.syncs < 1 or args.lora_rank < 0:
        parser.error("--tp takes 1, 2 and 4; --syncs at least 1; --lora_rank at least 0")
    slots = max(args.tp + [TRAINER_TP])
    if args.device == "cuda" and torch.cuda.device_count() < slots:
        parser.error("needs %d CUDA devices, found %d" % (slots, torch.cuda.device_count()))
    if bool(args.coordinator) != bool(args.agents):
        parser.error("--coordinator and --agents go together")

    with tempfile.TemporaryDirectory(prefix="qwen2-proof-") as work_dir:
        cluster = None
        try:
            if args.coordinator:
                coordinator = paramsync.Coordinator(args.coordinator)
                agents = args.agents.split(",")
                if len(agents) < slots:
                    parser.error("--agents names %d agents; %d slots" % (len(agents), slots))
            else:
                sys.path.insert(0, os.path.join(_HERE, "..", "tests"))
                import _cluster
                cluster = _cluster.Cluster(work_dir)
                cluster.start(devices=["cuda:%d" % i if args.device == "cuda" else "cpu"
                                       for i in range(slots)])
                coordinator, agents = cluster.coordinator, cluster.agents
            started = time.monotonic()
            results = run(args, coordinator, agents[:slots], work_dir)
        except (paramsync.ParamsyncError, RuntimeError) as e:
            if cluster is not None:
                cluster.dump_logs(sys.stderr)
            print(json.dumps({"error": str(e)}), flush=True)
            return 1
        finally:
            if cluster is not None:
                cluster.stop()
    print(json.dumps({"results": [dict(dataclasses.asdict(r), passed=r.passed)
                                  for r in results],
                      "seconds": round(time.monotonic() - started, 1)}), flush=True)
    return 0 if all(r.passed for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
