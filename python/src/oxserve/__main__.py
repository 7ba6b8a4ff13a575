"""``python -m oxserve --model-class module:Class``: serve a KServe-shaped :class:`oxserve.Model`;
``python -m oxserve --model-repository DIR``: serve a model repository (prepackaged Python servers
and ONNX models, each folder with its ``model-settings.json``); ``python -m oxserve --graph FILE``:
serve an inference graph whose Python classes and prepackaged servers run in this process."""

import argparse
import os
import sys

from .errors import ServerError, StartupError
from .kserve import Model, ModelServer
from .repository import point_rust_at_onnxruntime, read_repository
from .seldon import load_class
from .server import serve, serve_graph


def _model_class(spec):
    cls = load_class(spec)
    if not (isinstance(cls, type) and issubclass(cls, Model)):
        raise StartupError(f"class {cls.__qualname__} is not a subclass of oxserve.Model")
    return cls


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m oxserve", description=__doc__)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model-class", help="module:Class (or module.Class), an oxserve.Model")
    source.add_argument(
        "--model-repository",
        help="a folder of model folders; batching comes from each folder's model-settings.json",
    )
    source.add_argument(
        "--graph",
        help="an inference graph (SeldonDeployment, KServe InferenceGraph or oxserve's native YAML)",
    )
    parser.add_argument(
        "--default-model",
        help="with --model-repository: the model that answers paths naming none (Seldon, KServe v1 root)",
    )
    parser.add_argument("--model-name", help="name the model is served under (default: the class name)")
    parser.add_argument("--http-port", type=int, help="REST port (default: $OXSERVE_HTTP_PORT, else 8080)")
    parser.add_argument("--grpc-port", type=int, help="gRPC port (default: $OXSERVE_GRPC_PORT, else 8081)")
    parser.add_argument(
        "--host",
        default=os.environ.get("OXSERVE_HOST", "0.0.0.0"),
        help="interface to listen on ($OXSERVE_HOST)",
    )
    parser.add_argument(
        "--max-request-size",
        type=int,
        default=int(os.environ.get("OXSERVE_MAX_REQUEST_SIZE", 64 * 1024 * 1024)),
        help="largest request body or gRPC message in bytes ($OXSERVE_MAX_REQUEST_SIZE)",
    )
    parser.add_argument(
        "--drain-timeout",
        type=float,
        default=float(os.environ.get("OXSERVE_DRAIN_TIMEOUT", 30.0)),
        help="seconds in-flight requests may take to finish after SIGTERM ($OXSERVE_DRAIN_TIMEOUT)",
    )
    parser.add_argument("--workers", type=int, default=1, help="processes sharing the ports")
    parser.add_argument("--max-batch-size", type=int, default=0, help="batch concurrent requests (0: off)")
    parser.add_argument(
        "--max-batch-time", type=float, default=0.0, help="seconds a request may wait for a batch"
    )
    parser.add_argument("--instances", type=int, default=1, help="concurrent predict calls (Python threads)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds a call may take (0: no bound)")
    args = parser.parse_args(argv)
    # Model options that a repository's settings files replace: ignoring them silently would leave
    # a user believing, say, that batching is on.
    model_options = ("model_name", "max_batch_size", "max_batch_time", "instances", "timeout")
    given = [o for o in model_options if getattr(args, o) != parser.get_default(o)]
    if not args.model_class and given:
        parser.error(
            f"{', '.join('--' + o.replace('_', '-') for o in given)}: only with --model-class; the models "
            "of --model-repository and --graph take their name and scheduling from their files"
        )
    if args.default_model and not args.model_repository:
        parser.error("--default-model: only with --model-repository")
    # Where and how every form below listens.
    listening = {
        "host": args.host,
        "http_port": args.http_port,
        "grpc_port": args.grpc_port,
        "workers": args.workers,
        "drain_timeout": args.drain_timeout,
        "max_request_size": args.max_request_size,
    }
    try:
        if args.graph:
            point_rust_at_onnxruntime()
            serve_graph(args.graph, **listening)
            return
        if args.model_repository:
            handlers, native = read_repository(args.model_repository)
            if native:
                point_rust_at_onnxruntime()
            serve(
                lambda: handlers,
                **listening,
                default_model=args.default_model,
                # Set when a Seldon deployment runs this as one of its units (meta.requestPath).
                seldon_unit_id=os.environ.get("PREDICTIVE_UNIT_ID"),
                seldon_unit_image=os.environ.get("PREDICTIVE_UNIT_IMAGE"),
                model_folders=native,
            )
            return
        cls = _model_class(args.model_class)
        model = cls(args.model_name or cls.__name__)
        server = ModelServer(
            **listening,
            max_batch_size=args.max_batch_size,
            max_batch_time=args.max_batch_time,
            instances=args.instances,
            timeout=args.timeout,
        )
        server.start([model])
    except (StartupError, ServerError) as e:
        print(f"oxserve: {e}", file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
