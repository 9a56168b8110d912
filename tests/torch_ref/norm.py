"""PyTorch reference for tests/core/test_norm.cpp: layer_norm and batch_norm (with its running-stat update).

Each case: {"op", "inputs": [tensor or null], "requires_grad": [bool], "options": {...}, "grad_output": tensor};
answers {"output", "grads"} and, for batch_norm, the updated "running_mean" and "running_var"."""
import torch.nn.functional as F

from common import forward_backward, main, to_json, to_torch


def inputs_of(case):
    return [None if j is None else to_torch(j, rg) for j, rg in zip(case["inputs"], case["requires_grad"])]


def layer_norm(case):
    o = case["options"]
    return forward_backward(lambda x, w, b: F.layer_norm(x, o["normalized_shape"], w, b, o["eps"]), inputs_of(case),
                            to_torch(case["grad_output"]))


def batch_norm(case):
    o = case["options"]
    x, w, b, rm, rv = inputs_of(case)
    result = forward_backward(lambda x, w, b: F.batch_norm(x, rm, rv, w, b, o["training"], o["momentum"], o["eps"]),
                              [x, w, b], to_torch(case["grad_output"]))
    result["grads"] += [None, None]  # the running statistics take no gradient
    result["running_mean"] = None if rm is None else to_json(rm)
    result["running_var"] = None if rv is None else to_json(rv)
    return result


main({"layer_norm": layer_norm, "batch_norm": batch_norm})
