"""The PyTorch peer of `tessera bench ddp`: the same models, per-rank batches, SGD-momentum step, buckets and modes,
with torch DistributedDataParallel over gloo on the same number of CPU ranks, one thread each:
  compute        forward + backward + step of the plain model, all ranks at once, no communication;
  communication  all_reduce of flat tensors the sizes of DDP's own buckets, back to back, awaited and averaged;
  no overlap     the plain model's backward, then every bucket flattened, all-reduced, averaged and copied back;
  overlap        torch DDP as used for training (buckets launched from autograd hooks during backward);
  one rank       the plain step on rank 0 while the other ranks wait in a blocking barrier.
A mode's time is the slowest rank's seconds per step after a warm-up; medians over rounds, modes interleaved
round by round, as the C++ side does. Prints one JSON object (milliseconds).

usage: torch_ddp.py --ranks 2 [--models cnn,wide-mlp] [--steps 10 --rounds 3 --bucket-cap-mb 25 ...]
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn as nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "torch_ref"))
from models import cnn  # noqa: E402  (the CNN the C++ benchmark builds: launch/cli/bench_models.h)
from ddp_flags import add_shared_arguments  # noqa: E402


def wide_mlp(width, layers):
    modules = []
    for _ in range(layers):
        modules += [nn.Linear(width, width), nn.ReLU()]
    return nn.Sequential(*modules, nn.Linear(width, 10))


def model_cases(args):
    cases = {"cnn": (cnn, [args.cnn_batch, 1, 28, 28]),
             "wide-mlp": (lambda: wide_mlp(args.mlp_width, args.mlp_layers), [args.mlp_batch, args.mlp_width])}
    return [(name, *cases[name]) for name in args.models.split(",")]


class Trainer:
    def __init__(self, model, input_shape, seed):
        self.model = model
        self.optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        gen = torch.Generator().manual_seed(seed)
        self.x = torch.randn(input_shape, generator=gen)
        self.y = torch.randint(0, 10, (input_shape[0],), generator=gen)

    def backward(self):
        self.optimizer.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(self.model(self.x), self.y).backward()

    def step(self):
        self.backward()
        self.optimizer.step()


def bucket_indices(params, args):
    # The buckets DDP trains with: after its first iteration it rebuilds them in the order gradients became ready
    # (here the reverse of registration), the first capped at _DEFAULT_FIRST_BUCKET_BYTES, then bucket_cap_mb.
    # (Its constructor's registration-order plan is not used after the first step: one bucket, without
    # find_unused_parameters.)
    cap, first = int(args.bucket_cap_mb * 2**20), int(args.first_bucket_cap_mb * 2**20)
    n = len(params)
    indices, _ = dist._compute_bucket_assignment_by_size(params[::-1], [first, cap], [False] * n)
    return [[n - 1 - i for i in bucket] for bucket in indices]


def seconds_per_step(args, step, before_timing=lambda: None):
    for _ in range(args.warmup):
        step()
    before_timing()
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    return (time.perf_counter() - start) / args.steps


def timed(args, step):
    seconds = torch.tensor([seconds_per_step(args, step, dist.barrier)], dtype=torch.float64)
    dist.all_reduce(seconds, op=dist.ReduceOp.MAX)
    return seconds.item()


def timed_alone(args, step):
    dist.barrier()
    seconds = torch.zeros(1, dtype=torch.float64)
    if dist.get_rank() == 0:
        seconds[0] = seconds_per_step(args, step)
    dist.broadcast(seconds, 0)
    return seconds.item()


def run_model(args, name, make, input_shape):
    rank, world = dist.get_rank(), dist.get_world_size()
    dist._DEFAULT_FIRST_BUCKET_BYTES = int(args.first_bucket_cap_mb * 2**20)  # DDP's first bucket, as Tessera's
    torch.manual_seed(0)
    plain = Trainer(make(), input_shape, rank)
    overlap = Trainer(nn.parallel.DistributedDataParallel(make(), bucket_cap_mb=args.bucket_cap_mb), input_shape,
                      rank)
    serial = Trainer(make(), input_shape, rank)
    params = list(serial.model.parameters())
    buckets = [[params[i] for i in bucket] for bucket in bucket_indices(params, args)]
    flats = [torch.zeros(sum(p.numel() for p in bucket)) for bucket in buckets]

    def communicate():
        works = [dist.all_reduce(flat, async_op=True) for flat in flats]
        for work, flat in zip(works, flats):
            work.wait()
            flat.div_(world)

    def no_overlap_step():
        serial.backward()
        for bucket in buckets:
            flat = torch._utils._flatten_dense_tensors([p.grad for p in bucket])
            dist.all_reduce(flat)
            flat.div_(world)
            for p, g in zip(bucket, torch._utils._unflatten_dense_tensors(flat, [p.grad for p in bucket])):
                p.grad.copy_(g)
        serial.optimizer.step()

    rounds = []
    for _ in range(args.rounds):
        rounds.append({"compute_ms": 1e3 * timed(args, plain.step),
                       "communication_ms": 1e3 * timed(args, communicate),
                       "no_overlap_ms": 1e3 * timed(args, no_overlap_step),
                       "overlap_ms": 1e3 * timed(args, overlap.step),
                       "one_rank_ms": 1e3 * timed_alone(args, plain.step)})
    median = {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}
    return {"name": name, "gradient_bytes": sum(p.numel() * p.element_size() for p in params),
            "buckets": len(buckets), "median": median, "rounds": rounds}


def worker(rank, args, queue):
    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "127.0.0.1", str(args.port)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=args.ranks)
    results = [run_model(args, *case) for case in model_cases(args)]
    if rank == 0:
        queue.put(results)
    dist.barrier()
    dist.destroy_process_group()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--ranks", type=int, default=2)
    add_shared_arguments(parser)
    parser.add_argument("--port", type=int, default=29533)
    args = parser.parse_args()
    context = mp.get_context("spawn")
    queue = context.SimpleQueue()
    processes = [context.Process(target=worker, args=(rank, args, queue)) for rank in range(args.ranks)]
    for p in processes:
        p.start()
    results = queue.get()
    for p in processes:
        p.join()
        if p.exitcode != 0:
            sys.exit(f"torch_ddp.py: rank process exited with {p.exitcode}")
    print(json.dumps({"torch": torch.__version__, "backend": "gloo", "ranks": args.ranks, "threads_per_rank": 1,
                      "models": results}))


if __name__ == "__main__":
    main()
