"""What Python RL frameworks do: one torch.distributed broadcast per tensor.

Baseline for bench/gpu_sync_bench.cc on the GPU machine (torch + 4 GPUs): GPU
pairs (0 -> 2) and (1 -> 3) each broadcast every tensor of one TP2 shard in a
loop, as ChatLearn's per-tensor sync does; prints the median time of a full
loop and GB/s per pair.

    gpu_sync_bench --preset=qwen2.5-7b --dump_shapes > shapes.json
    python3 torch_broadcast_baseline.py shapes.json [runs]
"""

import json
import os
import statistics
import sys
import time


def _worker(rank, shapes, runs, results):
    import torch
    import torch.distributed as dist

    os.environ.setdefault("NCCL_NVLS_ENABLE", "0")
    torch.cuda.set_device(rank)
    dist.init_process_group("nccl", init_method="tcp://127.0.0.1:29531", world_size=4, rank=rank)
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
    import torch.multiprocessing as mp

    shapes = json.load(open(sys.argv[1]))
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    shard_bytes = 0
    for _, shape in shapes:
        n = 2
        for d in shape:
            n *= d
        shard_bytes += n
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    mp.start_processes(_worker, args=(shapes, runs, results), nprocs=4, start_method="spawn")
    ms = results.get()
    print("per-tensor torch.distributed.broadcast loop: %d tensors, %.2f GB per pair: "
          "%.2f ms, %.1f GB/s/pair" % (len(shapes), shard_bytes / 1e9, ms, shard_bytes / ms / 1e6))


if __name__ == "__main__":
    main()
