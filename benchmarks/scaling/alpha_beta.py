"""Alpha-beta (latency-bandwidth) cost model of all-reduce, and the data-parallel step time built on it.

Pure functions, no I/O; units are seconds, bytes and bytes per second. `bandwidth` is always a *bus* bandwidth in
nccl-tests' sense (busbw = algbw * 2(p-1)/p): what each rank's link carries per second, so that one measured or
published busbw plugs straight into the ring formula.

  ring           2(p-1) alpha + 2(p-1)/p * n / B     reduce-scatter then all-gather, p-1 steps each, n/p per step
  tree           2 ceil(log2 p) alpha + 2 n / B      pipelined double binary tree (NCCL's "tree"): a reduce up and
                                                     a broadcast down the log2 p levels; each byte crosses a rank's
                                                     link about once each way (Sanders, Speck, Traeff 2009), so the
                                                     bandwidth term is 2n/B at any p (ring: 2(p-1)/p n/B) and the
                                                     latency term grows with log2 p instead of p
  hierarchical   in-node all-reduce of n (NVLink)    what NCCL does across nodes: reduce-scatter inside the node,
                 + across-node all-reduce of n/G     G concurrent all-reduces of n/G bytes across the N = p/G nodes,
                   per GPU (its own NIC)             one per GPU over its own NIC, then all-gather inside the node.
                                                     The in-node reduce-scatter + all-gather cost one in-node
                                                     all-reduce; the across-node part is ring or tree over N nodes.

Step time with overlap (DistributedDataParallel launches each bucket's all-reduce during backward):
  step = forward_and_optimizer + max(backward, comm(all buckets but the last)) + comm(last bucket)
where backward is `backward_share` of the compute (2/3 by default: backward costs about twice forward) and the last
bucket launched (holding the first layers' gradients, which are ready only when backward ends) cannot overlap.
All-reduces run one after another (one communication stream or thread), never two at once.
"""
import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Link:
    alpha: float      # seconds per message step (latency)
    bandwidth: float  # bus bandwidth, bytes per second


def ring_allreduce(n_bytes: float, p: int, link: Link) -> float:
    if p <= 1:
        return 0.0
    return 2 * (p - 1) * link.alpha + 2 * (p - 1) / p * n_bytes / link.bandwidth


def tree_allreduce(n_bytes: float, p: int, link: Link) -> float:
    if p <= 1:
        return 0.0
    return 2 * math.ceil(math.log2(p)) * link.alpha + 2 * n_bytes / link.bandwidth


ALGORITHMS = {"ring": ring_allreduce, "tree": tree_allreduce}


def hierarchical_allreduce(n_bytes: float, p: int, per_node: int, intra: Link, inter: Link,
                           algorithm: str = "ring", intra_algorithm: str = "ring") -> float:
    """All-reduce over p ranks, `per_node` per node: one node's all-reduce alone when p <= per_node."""
    in_node = ALGORITHMS[intra_algorithm](n_bytes, min(p, per_node), intra)
    if p <= per_node:
        return in_node
    if p % per_node:
        raise ValueError(f"{p} ranks do not fill nodes of {per_node}")
    return in_node + ALGORITHMS[algorithm](n_bytes / per_node, p // per_node, inter)


def fit_link(samples, p: int, formula=ring_allreduce) -> Link:
    """Least-squares alpha and bandwidth from (bytes, seconds) all-reduce timings at p ranks, in relative error
    (each sample weighted by 1/seconds, so small messages count as much as large ones). Both formulas are linear
    in (alpha, 1/B): t = a * alpha + b * n / B."""
    probe_alpha = formula(0.0, p, Link(1.0, math.inf))     # a: steps of latency
    probe_beta = formula(1.0, p, Link(0.0, 1.0))           # b: bytes carried per byte reduced
    s_aa = s_ab = s_bb = s_at = s_bt = 0.0
    for n, t in samples:
        w = 1.0 / (t * t)
        a, b = probe_alpha, probe_beta * n
        s_aa += w * a * a
        s_ab += w * a * b
        s_bb += w * b * b
        s_at += w * a * t
        s_bt += w * b * t
    det = s_aa * s_bb - s_ab * s_ab
    if det <= 0:
        raise ValueError("fit_link needs at least two distinct message sizes")
    alpha = (s_bb * s_at - s_ab * s_bt) / det
    inverse_bandwidth = (s_aa * s_bt - s_ab * s_at) / det
    if inverse_bandwidth <= 0:
        raise ValueError("fit_link: timings do not grow with message size")
    return Link(max(alpha, 0.0), 1.0 / inverse_bandwidth)


def step_time(compute: float, bucket_bytes, allreduce, backward_share: float = 2 / 3) -> dict:
    """Step time with overlap, from the compute time of one step, DDP's buckets (in launch order: the last one is
    launched when backward ends) and `allreduce(n_bytes) -> seconds`. Returns the parts."""
    buckets = list(bucket_bytes)
    overlappable = sum(allreduce(n) for n in buckets[:-1])
    exposed_last = allreduce(buckets[-1]) if buckets else 0.0
    backward = backward_share * compute
    step = (compute - backward) + max(backward, overlappable) + exposed_last
    return {"step": step, "compute": compute, "communication": overlappable + exposed_last,
            "exposed_communication": step - compute}


def buckets_of(gradient_bytes: float, first_cap: float = 1 << 20, cap: float = 25 << 20):
    """DDP's bucket sizes in launch order for one flat run of gradients (PyTorch's scheme: the first bucket, which
    holds the last layers' gradients, ready first, is capped at `first_cap`, the rest at `cap`). Layer boundaries
    are ignored: a projection for models we do not build, not a bucket plan."""
    sizes, left = [], gradient_bytes
    while left > 0:
        size = min(left, first_cap if not sizes else cap)
        sizes.append(size)
        left -= size
    return sizes
