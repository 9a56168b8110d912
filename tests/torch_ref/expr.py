"""PyTorch answers for tests/support/torch_expr.h (test_core_vs_torch.cpp, test_pointwise.cpp, test_reduce.cpp).

Each case: {"op": "expr", "expr": "torch.clamp(a, min=-0.5)", "inputs": [tensor...], "requires_grad": [bool...],
"grad_output": tensor or absent}. The inputs are bound to a, b, c, ... in order; the answer holds the output (with
its dtype, so type promotion is compared too) and the gradients of the inputs that require grad."""
import string

import torch

from common import forward_backward, main, to_torch


def expr(case):
    inputs = [to_torch(j, requires_grad=rg) for j, rg in zip(case["inputs"], case["requires_grad"])]

    def fn(*args):
        return eval(case["expr"], {"torch": torch, "F": torch.nn.functional}, dict(zip(string.ascii_lowercase, args)))

    grad_output = to_torch(case["grad_output"]) if "grad_output" in case else None
    return forward_backward(fn, inputs, grad_output)


if __name__ == "__main__":
    main({"expr": expr})
