"""paramsync: the Python client of paramsync, over its C ABI (libparamsync.so).

Two integration points and the orchestration around them.

Inside a trainer (PyTorch or numpy), register the weights once and mark each
step's weights complete (:mod:`paramsync.trainer`)::

    weights = paramsync.TrainerEndpoint.from_module(
        "127.0.0.1:7001", "policy_trainer", model,
        layout=paramsync.ParallelLayout(tp_size=2, tp_rank=0))
    ...; optimizer.step(); weights.update()

Inside a vLLM worker, register the model's weights after load and read the
version held (:mod:`paramsync.inference`)::

    weights = paramsync.InferenceEndpoint.from_vllm("127.0.0.1:7002", "policy_vllm", worker)
    weights.wait_for_version(weights.version() + 1)

Orchestration: create a group, sync every N steps, watch the error channel
(:mod:`paramsync.orchestration`)::

    c = paramsync.Coordinator("127.0.0.1:50051")
    c.create_group("policy", "policy_trainer", "policy_vllm")
    schedule = c.sync_every("policy", n_steps=4)   # schedule.step() after each step
    for event in c.watch_errors(timeout=60): ...

LoRA trainers declare their adapters with ``lora={name: paramsync.LoraAdapter(
"A" or "B", base_name, alpha / r)}`` when registering, and the group's
``lora_mode`` ("merge" or "adapters_only") says what syncs do with them
(:mod:`paramsync.lora`).

The lower-level calls stay available: :func:`register_endpoint` (numpy
tensors in shared memory) and :func:`register_torch_endpoint` (CUDA tensors by
CUDA IPC).

TLS and the bearer token come from the PARAMSYNC_TLS_CA, PARAMSYNC_TLS_CERT,
PARAMSYNC_TLS_KEY and PARAMSYNC_TOKEN_FILE environment variables, or from
:func:`configure_security`.

The library is found through $PARAMSYNC_LIB, else bazel-bin/client/libparamsync.so
of the repository holding this package, else this package's directory.
Errors from the library raise :class:`ParamsyncError` (``.code`` such as
"NOT_FOUND", ``.code_value``, ``.message``).
"""

from ._lib import STATUS_CODES, ParamsyncError, library_path
from .endpoint import DTYPES, Endpoint, register_endpoint
from .framework_layout import FrameworkLayout
from .inference import InferenceEndpoint, vllm_model
from .layout import ParallelLayout
from .lora import LoraAdapter
from .orchestration import (Coordinator, ErrorEvent, GroupStatus, SyncProgress, SyncReport,
                            SyncSchedule)
from .security import configure_security
from .torch_endpoint import TorchEndpoint, register_torch_endpoint
from .trainer import TrainerEndpoint

__all__ = [
    "Coordinator",
    "DTYPES",
    "Endpoint",
    "ErrorEvent",
    "FrameworkLayout",
    "GroupStatus",
    "InferenceEndpoint",
    "LoraAdapter",
    "ParallelLayout",
    "ParamsyncError",
    "STATUS_CODES",
    "SyncProgress",
    "SyncReport",
    "SyncSchedule",
    "TorchEndpoint",
    "TrainerEndpoint",
    "configure_security",
    "library_path",
    "register_endpoint",
    "register_torch_endpoint",
    "vllm_model",
]
