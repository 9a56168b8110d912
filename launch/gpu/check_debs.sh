#!/usr/bin/env bash
# A rehearsal, here on the development machine, of what build_and_test.sh does with .debs/ on the GPU machine, for
# after fetch_debs.sh has changed what it fetches or trims: unpacks .debs/*.deb into a prefix, configures the CPU
# build against it with the flags build_and_test.sh uses (prefix_cmake_args.sh), and pre-processes every C++ source
# (g++ -E), with Debian's own copies of those packages' headers and CMake files hidden in a private mount namespace
# (unshare -m, root), so that a header or CMake file the trimming removed is an error here and not there.
# Compiling and linking are not rehearsed (the shared libraries and their development links are not trimmed);
# the CUDA sources are not compiled here (no GPU build needed for the question: they include no boost).
#   bash launch/gpu/check_debs.sh    # ~2 minutes on 2 cores
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "$(id -u)" -eq 0 ] || { echo "check_debs: needs root (unshare -m, mount --bind)" >&2; exit 1; }
ls .debs/*.deb >/dev/null || { echo "check_debs: no .debs/*.deb: run launch/gpu/fetch_debs.sh" >&2; exit 1; }
root=/tmp/tessera-check-prefix
build=/tmp/tessera-check-build
rm -rf "$root" "$build" && mkdir -p "$root"
for deb in .debs/*.deb; do dpkg-deb -x "$deb" "$root"; done

# Run inside the namespace: hide Debian's copies, configure, pre-process.
inner() {
  local empty=/tmp/tessera-check-empty
  mkdir -p "$empty"
  for path in /usr/include/{boost,hdf5,gtest,gmock,benchmark,nlohmann,oneapi} \
    /usr/include/x86_64-linux-gnu/openblas-openmp /usr/lib/x86_64-linux-gnu/openmpi /usr/lib/x86_64-linux-gnu/hdf5 \
    /usr/lib/x86_64-linux-gnu/cmake /usr/share/cmake/nlohmann_json; do
    [ -e "$path" ] && mount --bind "$empty" "$path"
  done
  for file in /usr/include/dnnl*.h* /usr/include/zlib.h /usr/include/zconf.h /usr/include/x86_64-linux-gnu/cblas*.h; do
    [ -e "$file" ] && mount --bind /dev/null "$file"  # an empty file: found only if the prefix lacks it (below)
  done
  # shellcheck source=launch/gpu/prefix_cmake_args.sh
  source launch/gpu/prefix_cmake_args.sh
  export OPAL_PREFIX=$root/usr  # as build_and_test.sh: the MPI compiler wrappers report the prefix's paths
  timeout 300 cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTESSERA_CUDA=OFF \
    -DCMAKE_EXPORT_COMPILE_COMMANDS=ON "${prefix_cmake_args[@]}" >"$build.configure.log" 2>&1 ||
    { tail -n 40 "$build.configure.log"; echo "check_debs: configure failed"; return 1; }
  grep "Tessera:" "$build.configure.log"
  timeout 900 python3 - "$build/compile_commands.json" "$root" <<'PY'
import json, re, shlex, subprocess, sys
from concurrent.futures import ThreadPoolExecutor
commands, root = json.load(open(sys.argv[1])), sys.argv[2]
def preprocess(entry):
    args = shlex.split(entry["command"])
    out = []
    skip = False
    for a in args:  # drop -o FILE and -c: pre-process only, listing every header read
        if skip:
            skip = False
        elif a == "-o":
            skip = True
        elif a != "-c":
            out.append(a)
    run = subprocess.run(out + ["-M"], cwd=entry["directory"], capture_output=True, text=True)
    if run.returncode != 0:
        return entry["file"], run.stderr.strip().splitlines()[:5]
    empty = [h for h in run.stdout.replace("\\\n", " ").split()
             if re.match(r"/usr/include/(dnnl|zlib\.h|zconf\.h|x86_64-linux-gnu/cblas)", h)]
    return entry["file"], [f"reads Debian's {h}, hidden here: the prefix lacks it" for h in empty]
with ThreadPoolExecutor(2) as pool:
    problems = [(f, p) for f, p in pool.map(preprocess, commands) if p]
for f, p in problems:
    print(f"{f}:\n  " + "\n  ".join(p))
print(f"check_debs: {len(commands)} sources pre-processed against the prefix, {len(problems)} with problems")
sys.exit(1 if problems else 0)
PY
}
export -f inner
export root build
unshare -m bash -c 'mount --make-rprivate / && inner'
