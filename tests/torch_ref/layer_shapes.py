"""Output shapes and parameter counts of PyTorch's own layers for `tessera train` layer specs, with PyTorch's lazy
modules (LazyLinear, LazyConv2d, LazyBatchNorm) inferring input sizes from a sample, as Tessera's builder does.

stdin:  [{"sample_shape": [...], "layers": [<spec>, ...]}, ...]
stdout: [[{"output_shape": [...], "parameters": n}, ...], ...]"""
import json
import sys

import torch
import torch.nn as nn


def layer(spec, in_shape):
    t, s = spec["type"], spec
    if t == "linear":
        return nn.LazyLinear(s["out_features"], bias=s.get("bias", True))
    if t == "conv2d":
        return nn.LazyConv2d(s["out_channels"], s["kernel_size"], stride=s.get("stride", 1),
                             padding=s.get("padding", 0), dilation=s.get("dilation", 1), groups=s.get("groups", 1),
                             bias=s.get("bias", True))
    if t == "maxpool2d":
        return nn.MaxPool2d(s["kernel_size"], stride=s.get("stride"), padding=s.get("padding", 0))
    if t == "avgpool2d":
        return nn.AvgPool2d(s["kernel_size"], stride=s.get("stride"), padding=s.get("padding", 0))
    if t == "batchnorm2d":
        return nn.LazyBatchNorm2d()
    if t == "batchnorm1d":
        return nn.LazyBatchNorm1d()
    if t == "layernorm":
        return nn.LayerNorm(in_shape[-1])
    if t == "dropout":
        return nn.Dropout(s.get("p", 0.5))
    if t == "flatten":
        return nn.Flatten()
    return {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}[t]()


def main():
    answers = []
    for case in json.load(sys.stdin):
        x = torch.zeros([2] + case["sample_shape"])
        rows = []
        for spec in case["layers"]:
            module = layer(spec, list(x.shape))
            module.eval()
            with torch.no_grad():
                x = module(x)
            rows.append({"output_shape": list(x.shape[1:]), "parameters": sum(p.numel() for p in module.parameters())})
        answers.append(rows)
    json.dump(answers, sys.stdout)


if __name__ == "__main__":
    main()
