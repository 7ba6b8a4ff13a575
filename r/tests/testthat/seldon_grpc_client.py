"""One Seldon gRPC prediction (Seldon.Predict), for the R package's tests (R has no gRPC client).

Usage: seldon_grpc_client.py PORT PROTO_ROOT MESSAGE_JSON; the stubs are generated from the
repository's proto files (PROTO_ROOT: crates/oxserve-protocol/proto) into a temporary folder.
Prints the answer as JSON, or the gRPC status and message.
"""

import importlib
import json
import pathlib
import subprocess
import sys
import tempfile

import grpc
from google.protobuf import json_format

port, proto_root, message = sys.argv[1:]
root = pathlib.Path(proto_root)
out = tempfile.mkdtemp()
protos = ["seldon/prediction.proto"] + [
    str(p.relative_to(root)) for p in sorted((root / "tensorflow/core/framework").glob("*.proto"))
]
subprocess.run(
    [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        f"-I{root}",
        f"--python_out={out}",
        f"--grpc_python_out={out}",
    ]
    + protos,
    check=True,
    cwd=root,
)
sys.path.insert(0, out)
pb = importlib.import_module("seldon.prediction_pb2")
stubs = importlib.import_module("seldon.prediction_pb2_grpc")

request = json_format.Parse(message, pb.SeldonMessage())
with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
    try:
        answer = stubs.SeldonStub(channel).Predict(request, timeout=30)
    except grpc.RpcError as e:
        print(json.dumps({"status": e.code().name, "message": e.details()}))
        sys.exit(0)
print(json_format.MessageToJson(answer))
