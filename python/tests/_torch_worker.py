"""A PyTorch framework rank for test_torch_endpoint.py: CUDA tensors registered in place.

argv[1]: JSON {"agent": ADDR, "model": M, "role": R, "rank": N, "device": D,
               "kwargs": {...register_torch_endpoint keyword arguments...},
               "tensors": [[name, dtype, shape], ...]}

Allocates the tensors on cuda:D, zero-filled, so that they start at assorted
offsets inside PyTorch's allocations: a small allocation comes first, and every
odd-numbered tensor is a view at an element offset inside a larger buffer whose
other elements (guards) hold GUARD. Registers them with register_torch_endpoint,
answers one JSON line ({"ok": true} or {"ok": false, "code", "message"}), then
one JSON line in per command and one out:
  {"op": "write", "name": n, "data": B64} -> copies the bytes into the tensor in
                                            place and synchronizes -> {"ok": true}
  {"op": "read", "name": n}              -> {"ok": true, "data": B64 of its bytes}
  {"op": "guards"}                       -> {"ok": true, "intact": [names whose
                                            guards still hold GUARD], "broken": [...]}
  {"op": "layout"}                       -> {"ok": true, "layout": {n: [offset, nbytes]}}
  {"op": "version"}                      -> {"ok": true, "version": v}
  {"op": "exit"} or end of input         -> exits.
"""

import base64
import ctypes
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import torch  # noqa: E402

import paramsync  # noqa: E402

GUARD = -7.5  # Exact in bfloat16 and float32.
PAD = 96      # Guard elements on each side of a view.
_KEEP = []


def reply(message):
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def error(e):
    code = e.code if isinstance(e, paramsync.ParamsyncError) else type(e).__name__
    message = e.message if isinstance(e, paramsync.ParamsyncError) else str(e)
    return {"ok": False, "code": code, "message": message}


def tensor_bytes(tensor):
    cpu = tensor.detach().to("cpu").contiguous()
    return ctypes.string_at(cpu.data_ptr(), cpu.numel() * cpu.element_size())


def allocate(specs, device):
    """name -> tensor, and name -> (buffer, numel) of the tensors that are views."""
    # Kept for the process's life so that its block is not reused: the small
    # tensors then start past the beginning of their allocation.
    _KEEP.append(torch.empty(37, dtype=torch.uint8, device=device))
    tensors, views = {}, {}
    for i, (name, dtype, shape) in enumerate(specs):
        dtype = getattr(torch, dtype)
        numel = 1
        for d in shape:
            numel *= d
        if i % 2 == 1:
            buffer = torch.full((PAD + numel + PAD,), GUARD, dtype=dtype, device=device)
            tensors[name] = buffer[PAD:PAD + numel].view(shape)
            tensors[name].zero_()
            views[name] = (buffer, numel)
        else:
            tensors[name] = torch.zeros(shape, dtype=dtype, device=device)
    torch.cuda.synchronize(device)
    return tensors, views


def main():
    config = json.loads(sys.argv[1])
    device = torch.device("cuda", config["device"])
    torch.cuda.set_device(device)
    tensors, views = allocate(config["tensors"], device)
    try:
        endpoint = paramsync.register_torch_endpoint(
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
                if op == "write":
                    tensor = tensors[command["name"]]
                    data = bytearray(base64.b64decode(command["data"]))
                    source = torch.frombuffer(data, dtype=tensor.dtype).view(tensor.shape)
                    pointer = tensor.data_ptr()
                    tensor.copy_(source)  # In place: the registered memory.
                    assert tensor.data_ptr() == pointer
                    endpoint.synchronize()
                    reply({"ok": True})
                elif op == "read":
                    data = tensor_bytes(tensors[command["name"]])
                    reply({"ok": True, "data": base64.b64encode(data).decode("ascii")})
                elif op == "guards":
                    intact, broken = [], []
                    for name, (buffer, numel) in views.items():
                        guards = torch.cat([buffer[:PAD], buffer[PAD + numel:]])
                        ok = torch.equal(guards, torch.full_like(guards, GUARD))
                        (intact if ok else broken).append(name)
                    reply({"ok": True, "intact": intact, "broken": broken})
                elif op == "layout":
                    reply({"ok": True,
                           "layout": {n: list(endpoint.layout(n)) for n in endpoint.names}})
                elif op == "version":
                    reply({"ok": True, "version": endpoint.version()})
                else:
                    reply({"ok": False, "code": "ValueError", "message": "unknown op %r" % op})
            except Exception as e:
                reply(error(e))


if __name__ == "__main__":
    main()
