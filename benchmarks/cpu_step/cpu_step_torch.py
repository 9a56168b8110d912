"""PyTorch peer of benchmarks/cpu_step: the same models, batch, optimizer, precision and thread count as the C++ side.

Prints one JSON object: {"mlp": steps_per_sec, "cnn": steps_per_sec, "torch": version, "threads": n}."""
import argparse
import json
import os
import sys
import time

import torch
import torch.nn as nn

# The models are shared with the training equivalence test (tests/torch_ref/models.py).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "torch_ref"))
from models import MODELS  # noqa: E402


def steps_per_sec(model, batch, bf16, warmup, seconds, min_steps):
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    x = torch.randn(batch, 1, 28, 28)
    y = torch.randint(0, 10, (batch,))

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()

    for _ in range(warmup):
        step()
    steps, start = 0, time.perf_counter()
    while steps < min_steps or time.perf_counter() - start < seconds:
        step()
        steps += 1
    return steps / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--min-steps", type=int, default=10)
    parser.add_argument("--models", default="mlp,cnn")
    parser.add_argument("--precision", choices=["f32", "bf16"], default="f32")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    result = {"torch": torch.__version__, "threads": torch.get_num_threads()}
    for name in args.models.split(","):
        model = MODELS[name]()
        result[name] = steps_per_sec(model, args.batch, args.precision == "bf16", args.warmup, args.seconds,
                                     args.min_steps)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
