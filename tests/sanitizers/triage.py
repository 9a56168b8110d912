"""Groups ThreadSanitizer reports (files written with log_path) by the first frames in Tessera's sources.

Usage: triage.py SOURCE_DIR REPORT_FILE... Reports with a frame in MPI, HDF5 or libgomp are counted apart: those
libraries are not instrumented, so their synchronisation is invisible (tsan.supp silences most of them). One known
false positive remains: an exception handed from a thread through std::exception_ptr (io::Loader's reader) is freed
under libstdc++'s atomic reference count, which TSan does not see either."""
import collections
import re
import sys

source = sys.argv[1].rstrip("/") + "/"
uninstrumented = re.compile(r"mca_|libmpi|libopen-pal|libopen-rte|pmix|libgomp|libhdf5|libevent")
groups, example, skipped = collections.Counter(), {}, 0
for path in sys.argv[2:]:
    text = open(path, errors="replace").read()
    for report in re.findall(r"WARNING: ThreadSanitizer:.*?SUMMARY[^\n]*", text, re.S):
        if uninstrumented.search(report):
            skipped += 1
            continue
        kind = report.split("ThreadSanitizer: ", 1)[1].split(" (pid")[0]
        frames = []
        for section in report.split("\n\n"):
            match = re.search(re.escape(source) + r"(\S+:\d+)", section)
            if match:
                frames.append(match.group(1))
        key = f"{kind}: " + " | ".join(frames[:3])
        groups[key] += 1
        example.setdefault(key, path)
for key, count in groups.most_common():
    print(f"{count:5d}  {key}\n       e.g. {example[key]}")
print(f"{sum(groups.values())} reports on Tessera's code in {len(groups)} groups; {skipped} inside uninstrumented "
      "libraries (MPI, HDF5, libgomp)")
