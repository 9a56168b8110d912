"""Plumbing for PyTorch reference scripts: JSON tensors in and out, and a forward+backward runner.

A script reads a JSON list of cases from stdin, answers each with a handler picked by case["op"], and writes the
JSON list of answers to stdout (see tests/support/torch_ref.h)."""
import json
import math
import sys

import torch

torch.use_deterministic_algorithms(True)
torch.set_num_threads(1)

DTYPES = {"f32": torch.float32, "f64": torch.float64, "bf16": torch.bfloat16, "f16": torch.float16,
          "i32": torch.int32, "i64": torch.int64, "u8": torch.uint8, "bool": torch.bool}
NAMES = {v: k for k, v in DTYPES.items()}


def to_torch(j, requires_grad=False):
    """NaN and infinities arrive as the strings "nan", "inf" and "-inf" (JSON has no such numbers)."""
    dtype = DTYPES[j["dtype"]]
    data = [float(v) if isinstance(v, str) else v for v in j["data"]]
    t = torch.tensor(data, dtype=torch.float64 if dtype.is_floating_point else torch.int64)
    t = t.to(dtype).reshape(j["shape"])
    if requires_grad:
        t.requires_grad_(True)
    return t


def to_json(t):
    t = t.detach()
    data = t.double() if t.dtype.is_floating_point else t.long()
    values = [v if not isinstance(v, float) or math.isfinite(v) else str(v) for v in data.reshape(-1).tolist()]
    return {"shape": list(t.shape), "dtype": NAMES[t.dtype], "data": values}


def forward_backward(fn, inputs, grad_output=None):
    """Runs fn(*inputs); backpropagates grad_output (or ones) and returns the output and input gradients
    (None for inputs that do not require grad)."""
    out = fn(*inputs)
    result = {"output": to_json(out)}
    if out.requires_grad:
        g = torch.ones_like(out) if grad_output is None else grad_output.to(out.dtype)
        out.backward(g)
    result["grads"] = [to_json(x.grad) if isinstance(x, torch.Tensor) and x.grad is not None else None
                       for x in inputs]
    return result


def run_case(case, fn):
    """forward_backward of fn over the case's "inputs" (requiring grad as its "requires_grad" says; null: None, an
    absent optional input) with its "grad_output", when it has one (the harness of tests/support/torch_expr.h)."""
    inputs = [None if j is None else to_torch(j, requires_grad=rg)
              for j, rg in zip(case["inputs"], case["requires_grad"])]
    grad_output = to_torch(case["grad_output"]) if "grad_output" in case else None
    return forward_backward(fn, inputs, grad_output)


def main(handlers):
    cases = json.load(sys.stdin)
    answers = [handlers[case["op"]](case) for case in cases]
    json.dump(answers, sys.stdout)
