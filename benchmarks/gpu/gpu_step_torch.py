"""PyTorch peer of benchmarks/gpu/gpu_step: the same models, batch sizes and optimizer (AdamW, f32, TF32 off,
cuDNN benchmark mode) on the same GPU, eager and with the whole step captured in a CUDA graph (capturable AdamW),
timed the same way (wall time over N steps between two synchronisations).

Also the GPU work one eager step runs (torch.profiler: kernels, copies and memsets, the library's internal kernels
included), to set beside benchmarks/gpu/work_per_step's count of Tessera's launches, and a bf16 GEMM (torch.matmul,
n x n, f32 accumulation) in TFLOP/s. Prints one JSON object:
{"<model>:<batch>[:bf16|:f16]": {"eager_ms": .., "graph_ms": .., "gpu_ops_per_step": ..}, "gemm_bf16_tflops": ..,
 "torch": version}."""
import argparse
import json
import time

import torch
import torch.nn as nn


def fashion_cnn():
    return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Dropout(0.25), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Dropout(0.25),
                         nn.Linear(128, 10))


def mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                         nn.Linear(128, 10))


def wide_cnn():
    def conv(c):
        return nn.Conv2d(c, 128, 3, padding=1)
    return nn.Sequential(conv(1), nn.ReLU(), conv(128), nn.ReLU(), nn.MaxPool2d(2), conv(128), nn.ReLU(),
                         conv(128), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(128 * 7 * 7, 10))


MODELS = {"mlp": mlp, "cnn": fashion_cnn, "wide_cnn": wide_cnn}


def time_steps(step, steps):
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    torch.cuda.synchronize()
    return (time.perf_counter() - start) * 1e3 / steps


def loss_of(model, loss_fn, x, y, precision):
    dtype = torch.float16 if precision == "f16" else torch.bfloat16
    with torch.autocast("cuda", dtype=dtype, enabled=precision != "f32"):
        return loss_fn(model(x), y)


def eager_step(name, batch, precision):
    model = MODELS[name]().cuda()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    scaler = torch.amp.GradScaler("cuda", enabled=precision == "f16")  # f16: loss scaling, as Tessera's case
    loss_fn = nn.CrossEntropyLoss()
    x = torch.randn(batch, 1, 28, 28, device="cuda")
    y = torch.randint(0, 10, (batch,), device="cuda")

    def step():
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss_of(model, loss_fn, x, y, precision)).backward()
        scaler.step(opt)
        scaler.update()
    return step


def eager_ms(name, batch, warmup, steps, precision):
    step = eager_step(name, batch, precision)
    for _ in range(warmup):
        step()
    return time_steps(step, steps)


def gpu_ops_per_step(name, batch, precision):
    """Kernels, copies and memsets of one warm eager step, as the profiler sees them on the GPU."""
    step = eager_step(name, batch, precision)
    for _ in range(3):
        step()
    torch.cuda.synchronize()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as profile:
        step()
        torch.cuda.synchronize()
    return sum(1 for event in profile.events() if event.device_type == torch.autograd.DeviceType.CUDA)


def graph_ms(name, batch, warmup, steps, precision):
    model = MODELS[name]().cuda()
    # f16: GradScaler hands found_inf to a fused optimizer instead of reading it on the host (its only capturable
    # form, if any); whether PyTorch can capture it is reported, not assumed.
    f16 = precision == "f16"
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01, capturable=True, fused=f16 or None)
    scaler = torch.amp.GradScaler("cuda", enabled=f16)
    loss_fn = nn.CrossEntropyLoss()
    x = torch.randn(batch, 1, 28, 28, device="cuda")
    y = torch.randint(0, 10, (batch,), device="cuda")

    def step():
        scaler.scale(loss_of(model, loss_fn, x, y, precision)).backward()
        scaler.step(opt)
        scaler.update()
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):  # warm-up on a side stream, as torch.cuda.graphs' documentation does
        for _ in range(warmup):
            opt.zero_grad(set_to_none=True)
            step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    opt.zero_grad(set_to_none=True)
    with torch.cuda.graph(graph):
        step()
    for _ in range(warmup):  # warm replays before the clock starts, as gpu_step.cpp does for its DeviceGraph
        graph.replay()
    return time_steps(graph.replay, steps)


def gemm_tflops(n, iters=20):
    a = torch.randn(n, n, device="cuda").bfloat16()
    b = torch.randn(n, n, device="cuda").bfloat16()
    torch.matmul(a, b)
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(iters):
        torch.matmul(a, b)
    torch.cuda.synchronize()
    return 2.0 * n ** 3 * iters / (time.perf_counter() - start) / 1e12


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", default="mlp:128,cnn:64,cnn:64:f16,cnn:1024,wide_cnn:256,wide_cnn:256:bf16")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--gemm-size", type=int, default=8192)
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    result = {"torch": torch.__version__, "gpu": torch.cuda.get_device_name()}
    for case in args.cases.split(","):
        name, batch, *rest = case.split(":")
        precision = rest[0] if rest else "f32"
        entry = {"eager_ms": eager_ms(name, int(batch), args.warmup, args.steps, precision)}
        try:
            entry["graph_ms"] = graph_ms(name, int(batch), args.warmup, args.steps, precision)
        except Exception as error:  # a graph that cannot be captured is reported, not fatal
            entry["graph_error"] = str(error)
        try:
            entry["gpu_ops_per_step"] = gpu_ops_per_step(name, int(batch), precision)
        except Exception as error:  # the profiler is a diagnosis: its failure is reported, not fatal
            entry["gpu_ops_error"] = str(error)
        result[case] = entry
    if args.gemm_size > 0:
        result["gemm_bf16_tflops"] = gemm_tflops(args.gemm_size)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
