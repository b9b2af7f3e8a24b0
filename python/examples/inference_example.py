"""An inference rank: registers its weights and reports the versions it receives.

    inference_example.py --agent 127.0.0.1:7002 --until-version 3

Registers zeroed weights in shared memory with the agent of this host (as a
vLLM worker would register ``model_runner.model`` after load, with
``InferenceEndpoint.from_vllm``), prints {"registered": rank}, then one JSON
line per new version it holds. At --until-version it checks that the weights
are exactly those of one training step, prints {"version", "step",
"verified"} and exits (1 if they are not a step's weights).
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
    parser.add_argument("--model", default="policy_vllm")
    parser.add_argument("--until-version", type=int, required=True)
    parser.add_argument("--max-steps", type=int, default=100,
                        help="the last training step the weights may come from")
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()

    declared = {name: (shape, "float32") for name, shape in toy_model.SHAPES.items()}
    with paramsync.InferenceEndpoint.register(args.agent, args.model, declared) as weights:
        print(json.dumps({"registered": weights.rank}), flush=True)
        held = weights.version()
        while held < args.until_version:
            # Versions are committed only once every byte arrived: never half written.
            held = weights.wait_for_version(held + 1, timeout=args.timeout)
            print(json.dumps({"version": held}), flush=True)
        step = toy_model.step_of(weights.tensors, args.max_steps)
        print(json.dumps({"version": held, "step": step, "verified": step is not None}),
              flush=True)
        return 0 if step is not None else 1


if __name__ == "__main__":
    sys.exit(main())
