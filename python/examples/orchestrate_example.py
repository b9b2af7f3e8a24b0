"""The driver: creates a sync group, syncs it with progress, watches the error channel.

    orchestrate_example.py --coordinator 127.0.0.1:50051 --group policy \
        --src policy_trainer --dst policy_vllm --syncs 1

Creates the group (idempotent), prints every group, then runs --syncs syncs,
printing each progress event and report, while the error channel is watched
in the background for --watch-seconds from the first sync on; then prints the
error events seen. Output is JSON lines. Exits 1 if a sync failed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import paramsync  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--coordinator", required=True, help="host:port of the coordinator")
    parser.add_argument("--group", required=True)
    parser.add_argument("--src", default="policy_trainer", help="the trainer model")
    parser.add_argument("--dst", default="policy_vllm", help="the inference model")
    parser.add_argument("--syncs", type=int, default=1)
    parser.add_argument("--watch-seconds", type=float, default=2.0,
                        help="how long the error channel is watched, from the first sync on")
    args = parser.parse_args()

    coordinator = paramsync.Coordinator(args.coordinator)
    coordinator.create_group(args.group, args.src, args.dst)
    for group in coordinator.list_groups():
        print(json.dumps({"group": dataclasses.asdict(group)}), flush=True)
    if args.syncs == 0:
        return 0

    def show(event: paramsync.SyncProgress) -> None:
        print(json.dumps({"progress": event.phase, "bytes_done": event.bytes_done,
                          "bytes_total": event.bytes_total}), flush=True)

    watch = coordinator.collect_errors(timeout=args.watch_seconds)  # Watching from now on.
    failed = False
    for _ in range(args.syncs):
        try:
            report = coordinator.sync(args.group, progress=show)
            print(json.dumps({"version": report.version, "bytes": report.bytes}), flush=True)
        except paramsync.ParamsyncError as e:
            print(json.dumps({"error": e.code, "message": e.message}), flush=True)
            failed = True
    for error in watch.result():  # Once --watch-seconds passed since the watch began.
        print(json.dumps({"error_event": dataclasses.asdict(error)}), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
