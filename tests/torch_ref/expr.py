"""Evaluates PyTorch expressions for tests/core/test_core_vs_torch.cpp.

Each case: {"op": "expr", "expr": "torch.matmul(a, b)", "inputs": [tensor...], "grad_output": tensor}. The inputs
are bound to a, b, c, ... (floating ones require grad); answers the output and the inputs' gradients."""
import string

import torch

from common import forward_backward, main, to_torch


def expr(case):
    inputs = [to_torch(j, requires_grad=j["dtype"] in ("f32", "f64")) for j in case["inputs"]]
    names = dict(zip(string.ascii_lowercase, inputs))

    def fn(*args):
        return eval(case["expr"], {"torch": torch, "F": torch.nn.functional}, dict(zip(string.ascii_lowercase, args)))

    grad_output = to_torch(case["grad_output"]) if "grad_output" in case else None
    return forward_backward(fn, inputs, grad_output)


if __name__ == "__main__":
    main({"expr": expr})
