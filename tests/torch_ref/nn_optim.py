"""PyTorch reference for tests/core/test_nn.cpp and tests/core/test_optim.cpp (nn modules, optimizers, LR
schedulers, gradient clipping) and tests/core/test_model_fit.cpp (ReduceLROnPlateau). Each case names a handler in "op"; tensors travel as JSON (see common.py)."""
import math

import torch

from common import DTYPES, main, to_json, to_torch


def build_module(spec):
    kind = spec["type"]
    if kind == "Sequential":
        return torch.nn.Sequential(*[build_module(child) for child in spec["children"]])
    return getattr(torch.nn, kind)(**spec.get("args", {}))


def pattern_like(t):
    """The fixed upstream gradient both sides use: sin(0.37 k + 0.1) over the flat index k."""
    k = torch.arange(t.numel(), dtype=torch.float64)
    return torch.sin(0.37 * k + 0.1).reshape(t.shape).to(t.dtype)


def module_case(case):
    module = build_module(case["module"]).to(DTYPES[case["dtype"]])
    state = {k: to_torch(v) for k, v in case["state"].items()}
    module.load_state_dict(state, strict=True)
    module.train(case["training"])
    x = to_torch(case["input"], requires_grad=case["input"]["dtype"] in ("f32", "f64"))
    out = module(x)
    out.backward(pattern_like(out))
    return {
        "output": to_json(out),
        "input_grad": to_json(x.grad) if x.grad is not None else None,
        "param_grads": {n: to_json(p.grad) for n, p in module.named_parameters() if p.grad is not None},
        "state_after": {k: to_json(v) for k, v in module.state_dict().items()},
    }


def make_optimizer(name, params, options):
    o = dict(options)
    if "beta1" in o:
        o["betas"] = (o.pop("beta1"), o.pop("beta2"))
    return getattr(torch.optim, name)(params, **o)


def warmup_cosine_factor(warmup, total, min_lr, base_lr):
    def factor(epoch):
        if epoch < warmup:
            return (epoch + 1) / warmup
        if epoch >= total:
            return min_lr / base_lr
        progress = (epoch - warmup) / (total - warmup)
        return (min_lr + (base_lr - min_lr) * (1 + math.cos(math.pi * progress)) / 2) / base_lr
    return factor


def make_scheduler(spec, optimizer, base_lr):
    kind, args = spec["type"], spec["args"]
    if kind == "StepLR":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=args["step_size"], gamma=args["gamma"])
    if kind == "CosineAnnealingLR":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args["T_max"], eta_min=args["eta_min"])
    if kind == "WarmupCosine":
        factor = warmup_cosine_factor(args["warmup_steps"], args["total_steps"], args["min_lr"], base_lr)
        return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    raise ValueError(kind)


def optim_case(case):
    params = [to_torch(p).requires_grad_(True) for p in case["params"]]
    optimizer = make_optimizer(case["optimizer"], params, case["options"])
    scheduler = make_scheduler(case["scheduler"], optimizer, case["options"]["lr"]) if case.get("scheduler") else None
    steps, lrs = [], []
    for grads in case["grads"]:
        for p, g in zip(params, grads):
            p.grad = to_torch(g) if g is not None else None
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        lrs.append(optimizer.param_groups[0]["lr"])
        steps.append([to_json(p) for p in params])
    return {"params": steps, "lrs": lrs}


def clip_case(case):
    params = []
    for g in case["grads"]:
        p = torch.zeros(g["shape"], dtype=DTYPES[g["dtype"]], requires_grad=True)
        if g["data"] is not None:
            p.grad = to_torch(g)
        params.append(p)
    total = torch.nn.utils.clip_grad_norm_(params, case["max_norm"], norm_type=float(case["norm_type"]))
    return {"total_norm": float(total), "grads": [to_json(p.grad) if p.grad is not None else None for p in params]}


def plateau_case(case):
    """ReduceLROnPlateau stepped once per value of case["values"]; the learning rate after each step."""
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=case["lr"])
    o = case["options"]
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode=o["mode"], factor=o["factor"], patience=o["patience"], threshold=o["min_delta"],
        threshold_mode="abs", cooldown=o["cooldown"], min_lr=o["min_lr"])
    lrs = []
    for value in case["values"]:
        scheduler.step(value)
        lrs.append(optimizer.param_groups[0]["lr"])
    return {"lrs": lrs}


if __name__ == "__main__":
    main({"module": module_case, "optim": optim_case, "clip": clip_case, "plateau": plateau_case})
