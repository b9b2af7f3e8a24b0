"""A trainer rank: registers its weights and syncs them every N training steps.

    trainer_example.py --agent 127.0.0.1:7001 --coordinator 127.0.0.1:50051 \
        --group policy --steps 6 --sync-every 2

The weights live in shared memory (numpy views, trained in place), registered
with the agent of this host; after every N-th step the trainer asks the
coordinator to sync the group (``Coordinator.sync_every``). With PyTorch the
registration would be ``TrainerEndpoint.from_module(agent, model, module)``
and the rest the same.

Prints one JSON line per sync ({"step", "version", "bytes", "duration_ms"});
with --hold it then keeps the weights registered until stdin closes (so that
others can sync them). Exits 1 with {"error": CODE, "message": ...} when a
sync fails.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import paramsync  # noqa: E402
import toy_model  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--agent", required=True, help="host:port of this host's agent")
    parser.add_argument("--coordinator", required=True, help="host:port of the coordinator")
    parser.add_argument("--group", required=True, help="the sync group to sync")
    parser.add_argument("--model", default="policy_trainer")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--sync-every", type=int, default=2)
    parser.add_argument("--hold", action="store_true",
                        help="keep the weights registered until stdin closes")
    args = parser.parse_args()

    with paramsync.TrainerEndpoint.register(args.agent, args.model,
                                            toy_model.initial_weights()) as weights:
        coordinator = paramsync.Coordinator(args.coordinator)

        def report(step: int, sync: paramsync.SyncReport) -> None:
            print(json.dumps({"step": step, "version": sync.version, "bytes": sync.bytes,
                              "duration_ms": round(sync.duration_ms, 3)}), flush=True)

        schedule = coordinator.sync_every(args.group, args.sync_every, on_report=report)
        try:
            for _ in range(args.steps):
                toy_model.train_step(weights.tensors)  # In place, in shared memory.
                weights.update()  # The step's weights are complete: a sync may read them.
                schedule.step()
        except paramsync.ParamsyncError as e:
            print(json.dumps({"error": e.code, "message": e.message}), flush=True)
            return 1
        if args.hold:
            print(json.dumps({"holding": args.steps}), flush=True)
            sys.stdin.read()
    return 0


if __name__ == "__main__":
    sys.exit(main())
