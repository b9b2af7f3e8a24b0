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
(The loop is _worker_loop.serve.)
"""

import base64
import ctypes
import json
import sys

import torch

import _worker_loop  # Puts the package's directory on sys.path.
import paramsync

GUARD = -7.5  # Exact in bfloat16 and float32.
PAD = 96      # Guard elements on each side of a view.
_KEEP = []


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

    def write(endpoint, command):
        tensor = tensors[command["name"]]
        data = bytearray(base64.b64decode(command["data"]))
        source = torch.frombuffer(data, dtype=tensor.dtype).view(tensor.shape)
        pointer = tensor.data_ptr()
        tensor.copy_(source)  # In place: the registered memory.
        assert tensor.data_ptr() == pointer
        endpoint.synchronize()
        return {"ok": True}

    def read(endpoint, command):
        data = tensor_bytes(tensors[command["name"]])
        return {"ok": True, "data": base64.b64encode(data).decode("ascii")}

    def check_guards(endpoint, command):
        intact, broken = [], []
        for name, (buffer, numel) in views.items():
            guards = torch.cat([buffer[:PAD], buffer[PAD + numel:]])
            ok = torch.equal(guards, torch.full_like(guards, GUARD))
            (intact if ok else broken).append(name)
        return {"ok": True, "intact": intact, "broken": broken}

    def layout(endpoint, command):
        return {"ok": True, "layout": {n: list(endpoint.layout(n)) for n in endpoint.names}}

    _worker_loop.serve(
        lambda: paramsync.register_torch_endpoint(
            config["agent"], config["model"], config["role"], config["rank"],
            tensors=tensors, **config.get("kwargs", {})),
        {"write": write, "read": read, "guards": check_guards, "layout": layout,
         "version": _worker_loop.version})


if __name__ == "__main__":
    main()
