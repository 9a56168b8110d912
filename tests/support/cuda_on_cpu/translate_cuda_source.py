#!/usr/bin/env python3
"""Rewrites a kernels/cuda source so g++ compiles it for the CPU (tests/support/cuda_on_cpu/README.md).

Only the pieces of CUDA syntax that are not C++ change, and the lines stay where they were, so the code that runs
on the CPU is the code nvcc compiles for the GPU, and compiler errors point at the original lines (#line):
  name<<<grid, block[, shared[, stream]]>>>(args)
      -> ::tessera::cuda_on_cpu::Launch("name", grid, block[, shared[, stream]])([](auto... a) { name(a...); }, args)
     (a generic lambda, so a kernel template whose arguments are deduced at the call is deduced the same way; the
     name as written, for the runtime's launch counts)
  extern __shared__ T name[];  ->  T* const name = ::tessera::cuda_on_cpu::dynamic_shared<T>();
  __shared__ ... name[N];      ->  the same, then ::tessera::cuda_on_cpu::poison_shared(&name, sizeof(name));
     (garbage in it once per block, as a GPU's shared memory holds whatever the last block left)

Usage: translate_cuda_source.py <source> <output>
"""
import re
import sys

# A launch configuration never holds a semicolon: a `<<<` in a comment cannot reach across statements.
LAUNCH = re.compile(r"([A-Za-z_][\w:]*(?:<[^<>;{}()]*>)?)\s*<<<([^;]*?)>>>\s*\((\s*)(\)?)")
DYNAMIC_SHARED = re.compile(r"extern\s+__shared__\s+([\w:]+)\s+(\w+)\s*\[\s*\]\s*;")
STATIC_SHARED = re.compile(r"(\b__shared__\b[^;]*?\b(\w+)\s*(?:\[[^\];]*\]\s*)*;)")


def launch(match):
    name, config, space, empty = match.groups()
    label = " ".join(name.split())  # one line, one spacing: the runtime counts launches by this text
    call = f'::tessera::cuda_on_cpu::Launch("{label}", {config})([](auto... a) {{ {name}(a...); }}'
    return call + (space + ")" if empty else "," + (space or " "))


def translate(text):
    text = LAUNCH.sub(launch, text)
    text = DYNAMIC_SHARED.sub(r"\1* const \2 = ::tessera::cuda_on_cpu::dynamic_shared<\1>();", text)
    return STATIC_SHARED.sub(r"\1 ::tessera::cuda_on_cpu::poison_shared(&\2, sizeof(\2));", text)


def main():
    source, output = sys.argv[1], sys.argv[2]
    with open(source) as f:
        text = f.read()
    translated = f'#line 1 "{source}"\n' + translate(text)
    try:
        with open(output) as f:
            if f.read() == translated:
                return  # unchanged: keep the timestamp, so nothing rebuilds
    except OSError:
        pass
    with open(output, "w") as f:
        f.write(translated)


if __name__ == "__main__":
    main()
