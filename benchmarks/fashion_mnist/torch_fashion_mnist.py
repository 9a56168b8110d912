"""The PyTorch peer of `tessera train`: the same config (layers, AdamW, warmup + cosine, per-rank batch, epochs)
trained with torch DistributedDataParallel over gloo on the same number of CPU ranks, one thread each, reading
the same HDF5 shards (into memory, with h5py). Prints one JSON line per epoch: seconds, loss, test accuracy.
--precision bf16: forward and loss (training and test) under torch.autocast on the CPU, as Tessera's "precision".

usage: torch_fashion_mnist.py CONFIG.json --ranks 2 --epochs 2 --data-dir DIR [--precision f32|bf16]
"""
import argparse
import glob
import json
import math
import os
import sys
import time

import h5py
import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn as nn

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tests", "torch_ref"))
from layer_shapes import layer  # noqa: E402  (the same spec -> torch layer mapping the tests check)


def load(pattern, scale):
    xs, ys = [], []
    for path in sorted(glob.glob(pattern)):
        with h5py.File(path, "r") as f:
            xs.append(f["x"][()])
            ys.append(f["y"][()])
    return torch.from_numpy(np.concatenate(xs).astype(np.float32) * scale), torch.from_numpy(np.concatenate(ys))


def build(layers, sample_shape):
    x = torch.zeros([2] + list(sample_shape))
    modules = []
    for spec in layers:
        m = layer(spec, list(x.shape))
        with torch.no_grad():
            m.eval()
            x = m(x)
        modules.append(m)
    return nn.Sequential(*modules)


def worker(rank, world, args, config):
    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "127.0.0.1", str(args.port)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    torch.manual_seed(config["seed"])
    scale = config["data"].get("scale", 1.0)
    x, y = load(os.path.join(args.data_dir, "train-*.h5"), scale)
    tx, ty = load(os.path.join(args.data_dir, "test-*.h5"), scale)
    model = nn.parallel.DistributedDataParallel(build(config["model"]["layers"], x.shape[1:]))
    o = config["optimizer"]
    optimizer = torch.optim.AdamW(model.parameters(), lr=o["lr"], weight_decay=o.get("weight_decay", 0.01))
    batch = config["batch_size"]
    per_rank = math.ceil(len(x) / world)
    steps_per_epoch = math.ceil(per_rank / batch)
    total = steps_per_epoch * args.epochs
    warmup = config.get("schedule", {}).get("warmup_steps", 0)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: (s + 1) / warmup if s < warmup else
                                                 0.5 * (1 + math.cos(math.pi * (s - warmup) / (total - warmup))))
    sampler = torch.utils.data.distributed.DistributedSampler(range(len(x)), world, rank, seed=config["seed"])
    loss_fn = nn.CrossEntropyLoss()
    bf16 = args.precision == "bf16"
    for epoch in range(args.epochs):
        sampler.set_epoch(epoch)
        order = torch.tensor(list(sampler))
        model.train()
        start = time.perf_counter()
        total_loss = 0.0
        for i in range(0, len(order), batch):
            idx = order[i:i + batch]
            optimizer.zero_grad()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            optimizer.step()
            schedule.step()
            total_loss += loss.item() * len(idx)
        seconds = time.perf_counter() - start
        model.eval()
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            correct = (model.module(tx).argmax(1) == ty).sum().item()  # every rank evaluates all: no split needed
        if rank == 0:
            print(json.dumps({"epoch": epoch + 1, "epoch_seconds": seconds, "loss": total_loss / len(order),
                              "test_accuracy": correct / len(tx)}), flush=True)
    dist.destroy_process_group()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("config")
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--data-dir", default="data/fmnist")
    parser.add_argument("--port", type=int, default=29517)
    parser.add_argument("--precision", choices=["f32", "bf16"], default="f32")
    args = parser.parse_args()
    config = json.load(open(args.config))
    mp.spawn(worker, args=(args.ranks, args, config), nprocs=args.ranks)


if __name__ == "__main__":
    main()
