"""PyTorch answers for tests/support/torch_expr.h (test_core_vs_torch.cpp, test_pointwise.cpp, test_reduce.cpp).

Each case: {"op": "expr", "expr": "torch.clamp(a, min=-0.5)", "inputs": [tensor...], "requires_grad": [bool...],
"grad_output": tensor or absent}. The inputs are bound to a, b, c, ... in order; the answer holds the output (with
its dtype, so type promotion is compared too) and the gradients of the inputs that require grad."""
import string

import torch

from common import main, run_case


def expr(case):
    names = string.ascii_lowercase
    return run_case(case, lambda *args: eval(case["expr"], {"torch": torch, "F": torch.nn.functional},
                                             dict(zip(names, args))))


if __name__ == "__main__":
    main({"expr": expr})
