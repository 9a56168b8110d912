#!/usr/bin/env python3
"""Rewrites a kernels/cuda source so g++ compiles it for the CPU (tests/support/cuda_on_cpu/README.md).

Only the two pieces of CUDA syntax that are not C++ change; every other line stays as written, so the code that
runs on the CPU is the code nvcc compiles for the GPU:
  name<<<grid, block[, shared[, stream]]>>>(args)
      -> ::tessera::cuda_on_cpu::Launch(grid, block[, shared[, stream]])([](auto... a) { name(a...); }, args)
     (a generic lambda, so a kernel template whose arguments are deduced at the call is deduced the same way)
  extern __shared__ T name[];  ->  T* const name = ::tessera::cuda_on_cpu::dynamic_shared<T>();
A `#line` directive keeps compiler errors pointing at the original file.

Usage: translate_cuda_source.py <source> <output>
"""
import re
import sys

LAUNCH = re.compile(r"([A-Za-z_][\w:]*(?:<[^<>;{}()]*>)?)\s*<<<(.*?)>>>\s*\(\s*(\)?)", re.S)
DYNAMIC_SHARED = re.compile(r"extern\s+__shared__\s+([\w:]+)\s+(\w+)\s*\[\s*\]\s*;")


def launch(match):
    name, config, empty = match.group(1), match.group(2), match.group(3)
    call = f"::tessera::cuda_on_cpu::Launch({config})([](auto... a) {{ {name}(a...); }}"
    return call + (")" if empty else ", ")


def translate(text):
    text = LAUNCH.sub(launch, text)
    return DYNAMIC_SHARED.sub(r"\1* const \2 = ::tessera::cuda_on_cpu::dynamic_shared<\1>();", text)


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
