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
"""

import base64
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402

import paramsync  # noqa: E402


def reply(message):
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def error(e):
    if isinstance(e, paramsync.ParamsyncError):
        return {"ok": False, "code": e.code, "message": e.message}
    return {"ok": False, "code": type(e).__name__, "message": str(e)}


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
    try:
        endpoint = paramsync.register_endpoint(
            config["agent"], config["model"], config["role"], config["rank"],
            tensors=tensors, **config.get("kwargs", {}))
    except Exception as e:
        reply(error(e))
        return
    reply({"ok": True})
    with endpoint:
        for line in sys.stdin:
            command = json.loads(line)
            op = command.get("op")
            try:
                if op == "exit":
                    break
                if op == "read":
                    data = bytes(endpoint.buffer(command["name"]))
                    reply({"ok": True, "data": base64.b64encode(data).decode("ascii")})
                elif op == "write":
                    data = base64.b64decode(command["data"])
                    endpoint.buffer(command["name"])[:] = data
                    reply({"ok": True})
                elif op == "version":
                    reply({"ok": True, "version": endpoint.version()})
                else:
                    reply({"ok": False, "code": "ValueError", "message": "unknown op %r" % op})
            except Exception as e:
                reply(error(e))


if __name__ == "__main__":
    main()
