"""PyTorch reference for tests/core/test_conv_pool.cpp: conv2d, max_pool2d, avg_pool2d, adaptive_avg_pool2d.

Each case (see tests/support/torch_expr.h): {"op", "inputs": [tensor or null], "requires_grad": [bool],
"options": {...keyword arguments}, "grad_output": tensor}; answers {"output", "grads"} (see common.run_case)."""
import torch.nn.functional as F

from common import main, run_case


def run(fn):
    return lambda case: run_case(case, lambda *a: fn(*a, **case["options"]))


main({
    "conv2d": run(lambda x, w, b=None, **o: F.conv2d(x, w, b, **o)),
    "max_pool2d": run(F.max_pool2d),
    "avg_pool2d": run(F.avg_pool2d),
    "adaptive_avg_pool2d": run(F.adaptive_avg_pool2d),
})
