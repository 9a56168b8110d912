"""PyTorch reference for tests/core/test_conv_pool.cpp: conv2d, max_pool2d, avg_pool2d, adaptive_avg_pool2d.

Each case: {"op", "inputs": [tensor or null], "requires_grad": [bool], "options": {...}, "grad_output": tensor};
answers {"output", "grads"} (see common.forward_backward)."""
import torch.nn.functional as F

from common import forward_backward, main, to_torch


def run(fn):
    def handler(case):
        inputs = [None if j is None else to_torch(j, rg) for j, rg in zip(case["inputs"], case["requires_grad"])]
        return forward_backward(lambda *a: fn(*a, **case["options"]), inputs, to_torch(case["grad_output"]))
    return handler


main({
    "conv2d": run(lambda x, w, b=None, **o: F.conv2d(x, w, b, **o)),
    "max_pool2d": run(F.max_pool2d),
    "avg_pool2d": run(F.avg_pool2d),
    "adaptive_avg_pool2d": run(F.adaptive_avg_pool2d),
})
