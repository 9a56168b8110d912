"""PyTorch side of the full training check (tests/core/test_training_vs_torch.cpp).

Each case: {"op": "train", "model": "mlp"|"cnn", "optimizer": {"type": "sgd"|"adamw", ...}, "steps": S,
"batch": B, "dtype": "f32"|"f64", "state": {name: tensor}}. Batches are synthesised by the same formula on both sides
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
    losses = []
    for step in range(case["steps"]):
        x, y = batch_inputs(step, case["batch"], dtype)
        opt.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return {"losses": losses, "state": {k: to_json(v) for k, v in model.state_dict().items()}}


if __name__ == "__main__":
    main({"train": train})
