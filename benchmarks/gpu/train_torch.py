"""PyTorch peer of `tessera train CONFIG.json` for benchmarks/gpu/train_vs_torch.py: the same model (built from the
config's "model.layers"), data, optimizer, schedule, batch size, epochs, seed and precision, trained the way a
PyTorch user would on the same machine:
  - DistributedDataParallel over NCCL (gloo without a GPU) in a one-process world (env:// init on 127.0.0.1);
  - a DataLoader with pin_memory=True (on a GPU), a DistributedSampler (seeded shuffle per epoch) and worker
    processes, over the config's HDF5 shards read through h5py, one sample per __getitem__ (each worker opens the
    files itself and keeps a chunk cache as large as Tessera's loader cache, 256 MiB over all files);
  - AdamW, linear warm-up then cosine decay per step (core/optim/lr_scheduler.h's formula), cross-entropy;
  - "precision": bf16 or f16 under torch.autocast, f16 with a GradScaler; f32 with TF32 off (as Tessera's f32);
    cuDNN benchmark mode.
The loss and accuracy are summed on the device and read once per epoch (no host synchronisation per step).
Timing follows Model::fit's epoch_seconds: from the request for the epoch's first batch to the end of its last step
(synchronised); the wait for that first batch is also reported alone (first_batch_seconds). data_wait_seconds is
the time the loop spent blocked in the DataLoader's next(), the first batch included, as Model::fit counts it.
Validation (the config's test files) runs after each epoch, outside the timing.

Works with torch 1.13 (Debian's, CPU) and 2.x (CUDA). Writes one JSON object to --json (and prints one line per
epoch):
  {"framework": "pytorch", "torch": ..., "device": ..., "backend": ..., "workers": ..., "precision": ...,
   "epochs": [{"epoch", "step", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "samples_per_sec",
               "epoch_seconds", "data_wait_seconds", "first_batch_seconds"}, ...],
   "test_accuracy": <the last epoch's val_accuracy>, "wall_seconds": ...}

    python3 benchmarks/gpu/train_torch.py configs/fashion_mnist_cnn.json --json out.json [--epochs N]
        [--precision f32|bf16|f16] [--workers 4] [--device auto|cuda|cpu] [--max-train N] [--max-test N]
"""
import argparse
import bisect
import glob
import json
import math
import os
import socket
import sys
import time

import h5py
import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset
from torch.utils.data.distributed import DistributedSampler

CACHE_BYTES = 256 << 20  # io::LoaderOptions::cache_bytes, Tessera's decoded-block cache over all files


class H5Shards(Dataset):
    """The samples of several HDF5 files (datasets x and y of equal length), in file order, one per __getitem__:
    x as float32 scaled by `scale`, y as int64. Files are opened lazily in each process (HDF5 handles must not
    cross a fork into DataLoader workers)."""

    def __init__(self, files, x="x", y="y", scale=1.0, limit=None):
        self.files, self.x_name, self.y_name, self.scale = files, x, y, scale
        self.offsets = [0]
        for path in files:
            with h5py.File(path, "r") as f:
                if len(f[x]) != len(f[y]):
                    raise ValueError(f"{path}: {x} has {len(f[x])} rows, {y} {len(f[y])}")
                self.offsets.append(self.offsets[-1] + len(f[x]))
        self.length = self.offsets[-1] if limit is None else min(limit, self.offsets[-1])
        self.arrays = None

    def __len__(self):
        return self.length

    def _open(self):
        per_file = CACHE_BYTES // len(self.files)
        handles = [h5py.File(path, "r", rdcc_nbytes=per_file, rdcc_nslots=10007) for path in self.files]
        self.arrays = [(f[self.x_name], f[self.y_name]) for f in handles]

    def __getitem__(self, index):
        if self.arrays is None:
            self._open()
        k = bisect.bisect_right(self.offsets, index) - 1
        row = index - self.offsets[k]
        x, y = self.arrays[k]
        image = torch.from_numpy(np.asarray(x[row], dtype=np.float32) * np.float32(self.scale))
        return image, int(y[row])


def build_model(layers, input_shape):
    """nn.Sequential from the config's model.layers (the types the Fashion-MNIST configs use), tracking the
    shape to size each layer; PyTorch's default initialisation."""
    modules, shape = [], list(input_shape)  # (C, H, W) or (features,)
    for layer in layers:
        kind = layer["type"]
        if kind == "conv2d":
            k, s, p = layer["kernel_size"], layer.get("stride", 1), layer.get("padding", 0)
            modules.append(nn.Conv2d(shape[0], layer["out_channels"], k, stride=s, padding=p))
            shape = [layer["out_channels"]] + [(d + 2 * p - k) // s + 1 for d in shape[1:]]
        elif kind == "maxpool2d":
            k = layer["kernel_size"]
            s = layer.get("stride", k)
            modules.append(nn.MaxPool2d(k, stride=s))
            shape = [shape[0]] + [(d - k) // s + 1 for d in shape[1:]]
        elif kind == "relu":
            modules.append(nn.ReLU())
        elif kind == "flatten":
            modules.append(nn.Flatten())
            shape = [math.prod(shape)]
        elif kind == "dropout":
            modules.append(nn.Dropout(layer.get("p", 0.5)))
        elif kind == "linear":
            modules.append(nn.Linear(shape[0], layer["out_features"]))
            shape = [layer["out_features"]]
        else:
            raise ValueError(f"train_torch.py: layer type '{kind}' is not supported")
    return nn.Sequential(*modules)


def warmup_cosine(warmup, total):
    """core/optim/lr_scheduler.h: base * (s + 1) / warmup for s < warmup, then cosine to 0 at total steps."""
    def factor(step):
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return 0.5 * (1 + math.cos(math.pi * progress))
    return factor


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def expand(patterns):
    files = []
    for pattern in patterns if isinstance(patterns, list) else [patterns]:
        matches = sorted(glob.glob(pattern))
        if not matches:
            sys.exit(f"train_torch.py: no file matches '{pattern}'")
        files += matches
    return files


def make_scaler(enabled):
    if hasattr(torch, "amp") and hasattr(torch.amp, "GradScaler"):  # torch >= 2.3
        return torch.amp.GradScaler("cuda", enabled=enabled)
    return torch.cuda.amp.GradScaler(enabled=enabled)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("config")
    parser.add_argument("--json", required=True, help="where the results go")
    parser.add_argument("--epochs", type=int, help="default: the config's")
    parser.add_argument("--precision", choices=["f32", "bf16", "f16"], help="default: the config's")
    parser.add_argument("--workers", type=int, default=4, help="DataLoader worker processes")
    parser.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"])
    parser.add_argument("--max-train", type=int, help="use the first N training samples (a quick test)")
    parser.add_argument("--max-test", type=int, help="use the first N test samples")
    args = parser.parse_args()
    wall_start = time.perf_counter()
    with open(args.config) as f:
        config = json.load(f)
    epochs = args.epochs or config.get("epochs", 1)
    precision = args.precision or config.get("precision", "f32")
    batch = config.get("batch_size", 64)
    seed = config.get("seed", 0)
    data, opt_config, schedule = config["data"], config["optimizer"], config.get("schedule", {})
    if opt_config.get("type") != "adamw" or config.get("loss") != "cross_entropy":
        sys.exit("train_torch.py: only the adamw optimizer and cross_entropy loss are implemented")
    if schedule.get("type") not in ("cosine", None):
        sys.exit(f"train_torch.py: schedule '{schedule.get('type')}' is not implemented")

    use_cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("train_torch.py: --device cuda, but torch sees no GPU")
    if precision == "f16" and not use_cuda:
        sys.exit("train_torch.py: f16 with loss scaling needs a GPU")
    device = torch.device("cuda", 0) if use_cuda else torch.device("cpu")
    backend = "nccl" if use_cuda else "gloo"
    # A one-process world started the way torchrun would (env://), so DDP and its NCCL communicator are real.
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", str(free_port()))
    os.environ.setdefault("RANK", "0")
    os.environ.setdefault("WORLD_SIZE", "1")
    if use_cuda:
        torch.cuda.set_device(device)
    dist.init_process_group(backend, init_method="env://")
    torch.manual_seed(seed)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = True

    scale = data.get("scale", 1.0)
    train_set = H5Shards(expand(data["train"]), data.get("x", "x"), data.get("y", "y"), scale, args.max_train)
    test_set = H5Shards(expand(data["test"]), data.get("x", "x"), data.get("y", "y"), scale, args.max_test)
    sampler = DistributedSampler(train_set, num_replicas=dist.get_world_size(), rank=dist.get_rank(), shuffle=True,
                                 seed=seed)
    loader_options = dict(batch_size=batch, num_workers=args.workers, pin_memory=use_cuda,
                          persistent_workers=args.workers > 0)
    train_loader = DataLoader(train_set, sampler=sampler, **loader_options)
    test_loader = DataLoader(test_set, shuffle=False, **loader_options)

    with h5py.File(train_set.files[0], "r") as f:
        input_shape = f[data.get("x", "x")].shape[1:]
    model = build_model(config["model"]["layers"], input_shape).to(device)
    ddp = DistributedDataParallel(model, device_ids=[0] if use_cuda else None)
    optimizer = torch.optim.AdamW(model.parameters(), lr=opt_config.get("lr", 1e-3),
                                  betas=(opt_config.get("beta1", 0.9), opt_config.get("beta2", 0.999)),
                                  eps=opt_config.get("eps", 1e-8), weight_decay=opt_config.get("weight_decay", 0.01))
    total_steps = epochs * len(train_loader)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, warmup_cosine(schedule.get("warmup_steps", 0), total_steps)) if schedule else None
    loss_fn = nn.CrossEntropyLoss()
    autocast_dtype = {"bf16": torch.bfloat16, "f16": torch.float16}.get(precision)
    scaler = make_scaler(precision == "f16") if use_cuda else None

    def autocast():
        return torch.autocast(device.type, dtype=autocast_dtype or torch.bfloat16, enabled=autocast_dtype is not None)

    def sync():
        if use_cuda:
            torch.cuda.synchronize()

    def evaluate():
        ddp.eval()
        sums = torch.zeros(2, device=device, dtype=torch.float64)  # loss * samples, correct
        count = 0  # on the host: a device scalar made from a Python number would synchronise
        with torch.no_grad():
            for x, y in test_loader:
                x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
                with autocast():
                    out = ddp(x)
                    loss = loss_fn(out.float(), y)
                sums += torch.stack([loss.double() * len(y), (out.argmax(1) == y).sum().double()])
                count += len(y)
        loss_sum, correct = sums.tolist()
        return loss_sum / count, correct / count

    result = {"framework": "pytorch", "torch": torch.__version__, "backend": backend, "workers": args.workers,
              "pin_memory": use_cuda, "precision": precision, "batch_size": batch,
              "device": torch.cuda.get_device_name(0) if use_cuda else "cpu",
              "train_samples": len(train_set), "test_samples": len(test_set), "epochs": []}
    print(f"pytorch {torch.__version__} on {result['device']}, DDP over {backend} (world size "
          f"{dist.get_world_size()}), {args.workers} DataLoader workers, {precision}, {len(train_loader)} steps per "
          f"epoch", flush=True)
    step = 0
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        ddp.train()
        sums = torch.zeros(2, device=device, dtype=torch.float64)  # loss * samples, correct
        count = 0
        start = t0 = time.perf_counter()  # Model::fit starts its epoch clock before asking for the first batch
        batches = iter(train_loader)
        x, y = next(batches)
        first_batch = time.perf_counter() - t0
        wait = first_batch  # as Model::fit's data_wait_seconds, which counts the first batch's wait too
        while True:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            optimizer.zero_grad(set_to_none=True)
            with autocast():
                out = ddp(x)
                loss = loss_fn(out.float(), y)
            if scaler is not None and scaler.is_enabled():
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            else:
                loss.backward()
                optimizer.step()
            if scheduler:
                scheduler.step()
            step += 1
            with torch.no_grad():
                sums += torch.stack([loss.detach().double() * len(y), (out.argmax(1) == y).sum().double()])
            count += len(y)
            t0 = time.perf_counter()
            try:
                x, y = next(batches)
            except StopIteration:
                break
            finally:
                wait += time.perf_counter() - t0
        loss_sum, correct = sums.tolist()  # reads the device: the epoch's work is done
        sync()
        seconds = time.perf_counter() - start
        val_loss, val_accuracy = evaluate()
        entry = {"epoch": epoch + 1, "step": step, "loss": loss_sum / count, "accuracy": correct / count,
                 "val_loss": val_loss, "val_accuracy": val_accuracy, "lr": optimizer.param_groups[0]["lr"],
                 "samples_per_sec": count / seconds, "epoch_seconds": seconds, "data_wait_seconds": wait,
                 "first_batch_seconds": first_batch}
        result["epochs"].append(entry)
        print(f"epoch {epoch + 1}/{epochs}: loss {entry['loss']:.4f} accuracy {entry['accuracy']:.4f} val_loss "
              f"{val_loss:.4f} val_accuracy {val_accuracy:.4f} {seconds:.2f} s (data wait {wait:.3f} s, first batch "
              f"{first_batch:.3f} s)", flush=True)
    result["test_accuracy"] = result["epochs"][-1]["val_accuracy"]
    result["wall_seconds"] = time.perf_counter() - wall_start
    with open(args.json, "w") as f:
        json.dump(result, f, indent=1)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
