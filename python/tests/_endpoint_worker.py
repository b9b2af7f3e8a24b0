"""Registers one endpoint in its own process and serves its tensors over stdio.

Used by test_client.py: shared memory lives as long as the registering
Endpoint, so each framework rank of a test is one of these processes.

argv[1]: JSON {"agent": ADDR, "model": M, "role": R, "rank": N,
               "kwargs": {...register_endpoint keyword arguments...},
               "tensors": {name: {"shape": [...], "dtype": D, "data": B64 or absent}}}
Tensors with "data" are passed as numpy arrays (copied into shared memory),
the others as (shape, dtype) allocations.

Protocol: one JSON line out after registering ({"ok": true} or {"ok": false,
"code": ..., "message": ...}), then one JSON line in per command and one out:
  {"op": "read", "name": n}              -> {"ok": true, "data": B64}
  {"op": "write", "name": n, "data": B64} -> {"ok": true}
  {"op": "version"}                      -> {"ok": true, "version": v}
  {"op": "exit"} or end of input          -> closes the endpoint and exits.
(The loop is _worker_loop.serve.)
"""

import base64
import json
import sys

import numpy as np

import _worker_loop  # Puts the package's directory on sys.path.
import paramsync


def read(endpoint, command):
    data = bytes(endpoint.buffer(command["name"]))
    return {"ok": True, "data": base64.b64encode(data).decode("ascii")}


def write(endpoint, command):
    data = base64.b64decode(command["data"])
    endpoint.buffer(command["name"])[:] = data
    return {"ok": True}


def main():
    config = json.loads(sys.argv[1])
    tensors = {}
    for name, t in config["tensors"].items():
        if t.get("data") is not None:
            dtype = paramsync.DTYPES[t["dtype"]][2]
            tensors[name] = np.frombuffer(base64.b64decode(t["data"]),
                                          dtype=dtype).reshape(t["shape"])
        else:
            tensors[name] = (tuple(t["shape"]), t["dtype"])
    _worker_loop.serve(
        lambda: paramsync.register_endpoint(
            config["agent"], config["model"], config["role"], config["rank"],
            tensors=tensors, **config.get("kwargs", {})),
        {"read": read, "write": write, "version": _worker_loop.version})


if __name__ == "__main__":
    main()
