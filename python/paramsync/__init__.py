"""paramsync: a thin Python client of the paramsync C ABI (libparamsync.so).

Framework processes register their tensors with the local agent::

    import numpy as np, paramsync
    ep = paramsync.register_endpoint("127.0.0.1:7001", "policy_trainer", "trainer", 0,
                                     tensors={"w": np.zeros((1024, 512), np.float32)})
    ep.tensors["w"][...] = fresh_weights      # what the next sync sends

A PyTorch rank registers its CUDA tensors in place with the agent of its GPU
(CUDA IPC; nothing is copied)::

    ep = paramsync.register_torch_endpoint("127.0.0.1:7001", "policy_trainer", "trainer", 0,
                                           tensors=dict(model.named_parameters()))

and an orchestration script drives syncs through the coordinator::

    c = paramsync.Coordinator("127.0.0.1:50051")
    c.create_group("policy", "policy_trainer", "policy_vllm")
    report = c.sync("policy")                 # blocks until committed everywhere

TLS and the bearer token come from the PARAMSYNC_TLS_CA, PARAMSYNC_TLS_CERT,
PARAMSYNC_TLS_KEY and PARAMSYNC_TOKEN_FILE environment variables, or from
:func:`configure_security`.

The library is found through $PARAMSYNC_LIB, else bazel-bin/client/libparamsync.so
of the repository holding this package, else this package's directory.
Errors from the library raise :class:`ParamsyncError` (``.code`` such as
"NOT_FOUND", ``.code_value``, ``.message``).
"""

from ._lib import ParamsyncError, library_path, STATUS_CODES
from .endpoint import DTYPES, Endpoint, register_endpoint
from .orchestration import Coordinator, ErrorEvent, SyncReport
from .security import configure_security
from .torch_endpoint import TorchEndpoint, register_torch_endpoint

__all__ = [
    "Coordinator",
    "DTYPES",
    "Endpoint",
    "ErrorEvent",
    "ParamsyncError",
    "STATUS_CODES",
    "SyncReport",
    "TorchEndpoint",
    "configure_security",
    "library_path",
    "register_endpoint",
    "register_torch_endpoint",
]
