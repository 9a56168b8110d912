"""Reads TensorBoard event files with TensorBoard's own code (run by the test venv's python).

stdin:  {"path": "<events file>"}
stdout: {"records": N, "file_version": "...", "scalars": {tag: [[step, value, wall_time], ...]}}
Every record goes through TensorBoard's record reader, which checks both CRC32C checksums of every record
(a bad one raises DataLossError, and this script fails), then through its Event protobuf parser.
"""
import json
import sys

from tensorboard.compat.proto import event_pb2
from tensorboard.compat.tensorflow_stub import errors
from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import PyRecordReader_New


def main():
    path = json.load(sys.stdin)["path"]
    reader = PyRecordReader_New(path)
    records, file_version, scalars = 0, None, {}
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
            scalars.setdefault(value.tag, []).append([event.step, value.simple_value, event.wall_time])
    json.dump({"records": records, "file_version": file_version, "scalars": scalars}, sys.stdout)


if __name__ == "__main__":
    main()
