"""Reads TensorBoard event files with TensorBoard's own code (run by the test venv's python).

stdin:  {"path": "<events file>"}
stdout: {"records": N, "file_version": "...", "scalars": {tag: [[step, value, wall_time], ...]},
         "histograms": {tag: [[step, {"min", "max", "num", "sum", "sum_squares", "bucket_limit", "bucket"}], ...]},
         "texts": {tag: [[step, text], ...]}}   (texts: string tensors whose metadata names the "text" plugin)
Every record goes through TensorBoard's record reader, which checks both CRC32C checksums of every record
(a bad one raises DataLossError, and this script fails), then through its Event protobuf parser.

stdin:  {"logdir": "<directory>"}  -> {"scalars": {tag: [[step, value], ...]}}: the directory as TensorBoard shows it
(its EventAccumulator over every events file in name order, purging orphaned data: a session START after the first
hides the events read before at its step and later).
"""
import json
import sys

from tensorboard.compat.proto import event_pb2
from tensorboard.compat.tensorflow_stub import errors
from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import PyRecordReader_New


def read_logdir(logdir):
    from tensorboard.backend.event_processing import event_accumulator

    accumulator = event_accumulator.EventAccumulator(logdir, size_guidance={event_accumulator.SCALARS: 0},
                                                     purge_orphaned_data=True)
    accumulator.Reload()
    return {"scalars": {tag: [[s.step, s.value] for s in accumulator.Scalars(tag)]
                        for tag in accumulator.Tags()["scalars"]}}


def main():
    request = json.load(sys.stdin)
    if "logdir" in request:
        json.dump(read_logdir(request["logdir"]), sys.stdout)
        return
    path = request["path"]
    reader = PyRecordReader_New(path)
    records, file_version, scalars, histograms, texts = 0, None, {}, {}, {}
    while True:
        try:
            reader.GetNext()
        except errors.OutOfRangeError:
            break
        records += 1
        event = event_pb2.Event.FromString(reader.record())
        if event.HasField("file_version"):
            file_version = event.file_version
        for value in event.summary.value:
            kind = value.WhichOneof("value")
            if kind == "simple_value":
                scalars.setdefault(value.tag, []).append([event.step, value.simple_value, event.wall_time])
            elif kind == "histo":
                h = value.histo
                histograms.setdefault(value.tag, []).append([event.step, {
                    "min": h.min, "max": h.max, "num": h.num, "sum": h.sum, "sum_squares": h.sum_squares,
                    "bucket_limit": list(h.bucket_limit), "bucket": list(h.bucket)}])
            elif kind == "tensor" and value.metadata.plugin_data.plugin_name == "text":
                texts.setdefault(value.tag, []).append(
                    [event.step, [s.decode("utf-8") for s in value.tensor.string_val]])
    json.dump({"records": records, "file_version": file_version, "scalars": scalars, "histograms": histograms,
               "texts": texts}, sys.stdout)


if __name__ == "__main__":
    main()
