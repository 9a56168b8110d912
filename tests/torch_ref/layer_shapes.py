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
        return nn.MaxPool2d(s["kernel_size"], stride=s.get("stride"), padding=s.get("padding", 0),
                            ceil_mode=s.get("ceil_mode", False))
    if t == "avgpool2d":
        return nn.AvgPool2d(s["kernel_size"], stride=s.get("stride"), padding=s.get("padding", 0),
                            ceil_mode=s.get("ceil_mode", False), count_include_pad=s.get("count_include_pad", True))
    if t == "adaptive_avg_pool2d":
        size = s["output_size"]
        return nn.AdaptiveAvgPool2d(tuple(size) if isinstance(size, list) else size)
    if t in ("batchnorm2d", "batchnorm1d"):
        lazy = nn.LazyBatchNorm2d if t == "batchnorm2d" else nn.LazyBatchNorm1d
        return lazy(affine=s.get("affine", True), track_running_stats=s.get("track_running_stats", True))
    if t == "layernorm":
        return nn.LayerNorm(in_shape[-1], elementwise_affine=s.get("elementwise_affine", True))
    if t == "leaky_relu":
        return nn.LeakyReLU(s.get("negative_slope", 0.01))
    if t == "dropout":
        return nn.Dropout(s.get("p", 0.5))
    if t == "flatten":
        return nn.Flatten()
    return {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "silu": nn.SiLU}[t]()


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
