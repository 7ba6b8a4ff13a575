"""One V2 gRPC inference with tritonclient, for the R package's tests (R has no gRPC client).

Usage: v2_grpc_client.py PORT MODEL NAME=v1,v2,... [NAME=...]; prints the outputs as JSON.
"""

import json
import sys

import numpy as np
import tritonclient.grpc as grpcclient

port, model, *columns = sys.argv[1:]
client = grpcclient.InferenceServerClient(url=f"127.0.0.1:{port}")
inputs = []
for column in columns:
    name, _, values = column.partition("=")
    data = np.array([float(v) for v in values.split(",")], dtype=np.float64)
    tensor = grpcclient.InferInput(name, list(data.shape), "FP64")
    tensor.set_data_from_numpy(data)
    inputs.append(tensor)
try:
    result = client.infer(model, inputs)
except grpcclient.InferenceServerException as e:
    print(json.dumps({"status": e.status(), "message": e.message()}))
    sys.exit(0)
outputs = {o.name: result.as_numpy(o.name).tolist() for o in result.get_response().outputs}
print(json.dumps({"outputs": outputs}))
