"""PyTorch's side of checkpoint_memory.sh: the same MLP and AdamW trained a few steps on the same HDF5 data, then
(with --save PATH) model and optimizer state written with torch.save. Prints the peak RSS in KiB (getrusage)."""
import argparse
import resource

import h5py
import torch

parser = argparse.ArgumentParser()
parser.add_argument("--data", required=True)
parser.add_argument("--hidden", type=int, required=True)
parser.add_argument("--steps", type=int, required=True)
parser.add_argument("--save", default="")
args = parser.parse_args()
torch.set_num_threads(1)
with h5py.File(args.data, "r") as f:
    x = torch.from_numpy(f["x"][:])
    y = torch.from_numpy(f["y"][:])
model = torch.nn.Sequential(torch.nn.Linear(x.shape[1], args.hidden), torch.nn.ReLU(),
                            torch.nn.Linear(args.hidden, args.hidden), torch.nn.ReLU(),
                            torch.nn.Linear(args.hidden, int(y.max()) + 1))
optimizer = torch.optim.AdamW(model.parameters(), lr=0.01, weight_decay=0.01)
for step in range(args.steps):
    batch = slice(32 * step, 32 * step + 32)
    optimizer.zero_grad()
    torch.nn.functional.cross_entropy(model(x[batch]), y[batch]).backward()
    optimizer.step()
if args.save:
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict()}, args.save)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
