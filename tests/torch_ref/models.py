"""The PyTorch models the C++ side builds too (tessera::nn, same layer order and state_dict names): the MLP, the
small CNN on 1x28x28 inputs, and the MLP with layer norms (launch/cli/bench_models.h). Used by training.py (the
20-step training equivalence test) and by benchmarks/cpu_step/cpu_step_torch.py (the step-time comparison), so both
always measure the same networks.
Imports torch only: no thread or determinism settings, which each user chooses."""
import torch.nn as nn


def mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                         nn.Linear(128, 10))


def cnn():
    return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))


def ln_mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.LayerNorm(256), nn.GELU(), nn.Linear(256, 256),
                         nn.LayerNorm(256), nn.GELU(), nn.Linear(256, 10))


MODELS = {"mlp": mlp, "cnn": cnn, "ln_mlp": ln_mlp}
