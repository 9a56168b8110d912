"""PyTorch reference for tests/core/test_norm.cpp: layer_norm and batch_norm (with its running-stat update).

Each case (see tests/support/torch_expr.h): {"op", "inputs": [tensor or null], "requires_grad": [bool],
"options": {...}, "grad_output": tensor}; answers {"output", "grads"} (see common.run_case) and, for batch_norm,
the updated "running_mean" and "running_var"."""
import torch.nn.functional as F

from common import main, run_case, to_json


def layer_norm(case):
    o = case["options"]
    return run_case(case, lambda x, w, b: F.layer_norm(x, o["normalized_shape"], w, b, o["eps"]))


def batch_norm(case):
    o = case["options"]
    stats = {}

    def fn(x, w, b, rm, rv):  # rm, rv: the running statistics, updated in place (they take no gradient)
        stats.update(running_mean=rm, running_var=rv)
        return F.batch_norm(x, rm, rv, w, b, o["training"], o["momentum"], o["eps"])

    result = run_case(case, fn)
    for name, t in stats.items():
        result[name] = None if t is None else to_json(t)
    return result


main({"layer_norm": layer_norm, "batch_norm": batch_norm})
