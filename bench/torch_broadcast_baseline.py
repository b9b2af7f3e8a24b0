"""What Python RL frameworks do: one torch.distributed broadcast per tensor.

Baseline for bench/gpu_sync_bench.cc on the GPU machine (torch + 4 GPUs): GPU
pairs (0 -> 2) and (1 -> 3) each broadcast every tensor of one TP2 shard in a
loop, as ChatLearn's per-tensor sync does; prints the median time of a full
loop and GB/s per pair, then one machine-readable last line,
`torch_loop_ms=<median ms>`.

gpu_sync_bench runs it itself, in the same run as its Sync and flat-broadcast
measurements, when given --torch_baseline=PATH (this file; bench/run_gpu_table.sh
passes it for issue 4's tp2_tp2 rows): it writes the shapes to its work dir and
reads the last line. By hand:

    gpu_sync_bench --preset=qwen2.5-7b --dump_shapes > shapes.json
    python3 torch_broadcast_baseline.py shapes.json [runs]

The workers rendezvous on 127.0.0.1 at $PARAMSYNC_TORCH_BASELINE_PORT when set,
else on a free port picked at start. Exits non-zero with a message when torch
cannot be imported or fewer than 4 GPUs are visible.
"""

import json
import os
import socket
import statistics
import sys
import time

GPUS = 4


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank, shapes, runs, port, results):
    import torch
    import torch.distributed as dist

    os.environ.setdefault("NCCL_NVLS_ENABLE", "0")
    torch.cuda.set_device(rank)
    dist.init_process_group("nccl", init_method="tcp://127.0.0.1:%d" % port, world_size=GPUS,
                            rank=rank)
    pairs = [dist.new_group([0, 2]), dist.new_group([1, 3])]
    group, source = pairs[rank % 2], rank % 2
    tensors = [torch.empty(shape, dtype=torch.bfloat16, device="cuda") for _, shape in shapes]
    times = []
    for run in range(runs + 1):
        torch.cuda.synchronize()
        dist.barrier()
        start = time.perf_counter()
        for tensor in tensors:
            dist.broadcast(tensor, src=source, group=group)
        torch.cuda.synchronize()
        dist.barrier()
        if run > 0:
            times.append((time.perf_counter() - start) * 1e3)
    if rank == 0:
        results.put(statistics.median(times))
    dist.destroy_process_group()


def main():
    if len(sys.argv) < 2:
        print("usage: python3 torch_broadcast_baseline.py shapes.json [runs]", file=sys.stderr)
        return 2
    try:
        import torch
        import torch.multiprocessing as mp
    except ImportError as e:
        print("torch_broadcast_baseline: cannot import torch: %s" % e, flush=True)
        return 2
    gpus = torch.cuda.device_count()
    if gpus < GPUS:
        print("torch_broadcast_baseline: needs %d GPUs (pairs 0->2, 1->3), torch sees %d"
              % (GPUS, gpus), flush=True)
        return 1

    with open(sys.argv[1]) as f:
        shapes = json.load(f)
    runs = max(1, int(sys.argv[2])) if len(sys.argv) > 2 else 5
    port = int(os.environ.get("PARAMSYNC_TORCH_BASELINE_PORT") or _free_port())
    shard_bytes = 0
    for _, shape in shapes:
        n = 2
        for d in shape:
            n *= d
        shard_bytes += n
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    mp.start_processes(_worker, args=(shapes, runs, port, results), nprocs=GPUS,
                       start_method="spawn")
    ms = results.get()
    print("per-tensor torch.distributed.broadcast loop: %d tensors, %.2f GB per pair: "
          "%.2f ms, %.1f GB/s/pair" % (len(shapes), shard_bytes / 1e9, ms, shard_bytes / ms / 1e6))
    # Last line, for gpu_sync_bench --torch_baseline.
    print("torch_loop_ms=%.3f" % ms, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
