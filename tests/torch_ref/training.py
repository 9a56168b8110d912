"""PyTorch side of the full training check (tests/core/test_training_vs_torch.cpp).

Each case: {"op": "train", "model": "mlp"|"cnn", "optimizer": {"type": "sgd"|"adamw", ...}, "steps": S,
"batch": B, "dtype": "f32"|"f64", "state": {name: tensor}}, optionally "accumulate": N (each step sums the gradients of
N consecutive batches, each loss divided by N; the step's loss is their mean) and "clip_grad_norm": C
(clip_grad_norm_ between backward and step; the answer's "largest_grad_norm" is the largest norm it saw). Batches are synthesised by the same formula on both sides
(batch_inputs below), so only the initial weights travel. Answers {"losses": [...], "state": {name: tensor}}."""
import math

import torch
import torch.nn as nn

from common import DTYPES, main, to_json, to_torch
from models import MODELS


def batch_inputs(step, batch, dtype):
    """x[n, i] = sin(0.013 * (i + 1) * (n + 1) + 0.7 * step), y[n] = (7 n + 3 step) % 10, computed in f64."""
    n = torch.arange(batch, dtype=torch.float64).reshape(-1, 1)
    i = torch.arange(784, dtype=torch.float64).reshape(1, -1)
    x = torch.sin(0.013 * (i + 1) * (n + 1) + 0.7 * step).to(dtype).reshape(batch, 1, 28, 28)
    y = (7 * torch.arange(batch) + 3 * step) % 10
    return x, y


def make_optimizer(spec, params):
    if spec["type"] == "sgd":
        return torch.optim.SGD(params, lr=spec["lr"], momentum=spec.get("momentum", 0.0),
                               nesterov=spec.get("nesterov", False), weight_decay=spec.get("weight_decay", 0.0))
    if spec["type"] == "adamw":
        return torch.optim.AdamW(params, lr=spec["lr"], weight_decay=spec.get("weight_decay", 0.01))
    raise ValueError(spec["type"])


def train(case):
    dtype = DTYPES[case["dtype"]]
    model = MODELS[case["model"]]().to(dtype)
    model.load_state_dict({k: to_torch(v).to(dtype) for k, v in case["state"].items()})
    opt = make_optimizer(case["optimizer"], model.parameters())
    accumulate, clip = case.get("accumulate", 1), case.get("clip_grad_norm", 0.0)
    losses, largest_norm = [], 0.0
    for step in range(case["steps"]):
        opt.zero_grad(set_to_none=True)
        total = 0.0
        for micro in range(accumulate):
            x, y = batch_inputs(step * accumulate + micro, case["batch"], dtype)
            loss = nn.functional.cross_entropy(model(x), y)
            (loss / accumulate if accumulate > 1 else loss).backward()
            total += loss.item()
        if clip > 0:
            largest_norm = max(largest_norm, torch.nn.utils.clip_grad_norm_(model.parameters(), clip).item())
        opt.step()
        losses.append(total / accumulate)
    return {"losses": losses, "largest_grad_norm": largest_norm, "state": {k: to_json(v) for k, v in model.state_dict().items()}}


if __name__ == "__main__":
    main({"train": train})
