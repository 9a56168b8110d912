"""The flags `tessera bench ddp` and torch_ddp.py share (same names, same defaults as launch/cli/bench_ddp.cpp), so
compare.py can pass one set to both."""

SHARED = [("models", str, "cnn,wide-mlp"), ("cnn_batch", int, 64), ("mlp_batch", int, 8), ("mlp_width", int, 1024),
          ("mlp_layers", int, 6), ("bucket_cap_mb", float, 25), ("first_bucket_cap_mb", float, 1),
          ("steps", int, 10), ("warmup", int, 3), ("rounds", int, 3)]


def add_shared_arguments(parser, **defaults):
    for name, kind, default in SHARED:
        parser.add_argument("--" + name.replace("_", "-"), type=kind, default=defaults.get(name, default))


def shared_flags(args):
    flags = []
    for name, _, _ in SHARED:
        flags += ["--" + name.replace("_", "-"), str(getattr(args, name))]
    return flags
