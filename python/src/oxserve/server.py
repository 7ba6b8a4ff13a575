"""Starting the Rust server in this process, or in N worker processes sharing the ports."""

import logging
import os
import signal
import sys
import threading
import time

from . import _native

log = logging.getLogger("oxserve")

# A worker that exits with an error this soon after it started failed at start-up (a port in use,
# a model that does not load): restarting it would fail the same way, so the whole server stops
# instead. A worker killed by a signal is always replaced.
STARTUP_GRACE = 5.0


def serve(
    make_handlers,
    *,
    host="0.0.0.0",
    http_port=None,
    grpc_port=None,
    workers=1,
    log_level="info",
    default_model=None,
    drain_timeout=30.0,
    max_request_size=64 * 1024 * 1024,
    seldon_unit_id=None,
    seldon_unit_image=None,
    metrics_port=None,
    model_folders=(),
):
    """Serves the handlers that ``make_handlers()`` returns, and the repository folders in
    ``model_folders`` that the Rust core loads itself (ONNX), until SIGTERM or Ctrl-C.

    Ports left out come from ``OXSERVE_HTTP_PORT`` and ``OXSERVE_GRPC_PORT`` (as for the
    ``oxserve serve`` command), else 8080 and 8081.

    ``make_handlers`` runs in the serving process, so with ``workers > 1`` each worker process
    loads its own copy of the model once; the workers share the ports (SO_REUSEPORT), the kernel
    spreads connections over them, and a worker that dies is started again.
    """
    options = _listening(host, http_port, grpc_port, log_level, drain_timeout, max_request_size)
    options.update(
        default_model=default_model,
        seldon_unit_id=seldon_unit_id,
        seldon_unit_image=seldon_unit_image,
        metrics_port=metrics_port,
        model_folders=[str(folder) for folder in model_folders],
    )

    def run(reuse_port):
        handlers = make_handlers()
        for handler in handlers:
            handler.load()
        _native.serve(handlers, reuse_port=reuse_port, **options)

    _run(run, int(workers), options)


def serve_graph(
    graph,
    *,
    host="0.0.0.0",
    http_port=None,
    grpc_port=None,
    workers=1,
    log_level="info",
    drain_timeout=30.0,
    max_request_size=64 * 1024 * 1024,
):
    """Serves the inference graph in the file ``graph`` (a SeldonDeployment, a KServe
    InferenceGraph or oxserve's native graph) until SIGTERM or Ctrl-C. Its Python classes and
    prepackaged servers run in this process (in each worker process with ``workers > 1``), beside
    its ONNX models, built-in routers and remote units. Ports as for :func:`serve`."""
    from .graph import build_unit

    options = _listening(host, http_port, grpc_port, log_level, drain_timeout, max_request_size)

    def run(reuse_port):
        _native.serve_graph(str(graph), build_unit, reuse_port=reuse_port, **options)

    _run(run, int(workers), options)


def _listening(host, http_port, grpc_port, log_level, drain_timeout, max_request_size):
    if http_port is None:
        http_port = os.environ.get("OXSERVE_HTTP_PORT", "8080")
    if grpc_port is None:
        grpc_port = os.environ.get("OXSERVE_GRPC_PORT", "8081")
    return dict(
        host=host,
        http_port=int(http_port),
        grpc_port=int(grpc_port),
        log_level=log_level,
        drain_timeout=float(drain_timeout),
        max_request_size=int(max_request_size),
    )


def _run(run, workers, options):
    """``run(reuse_port)`` here, or in ``workers`` supervised processes sharing the ports."""
    if workers <= 1:
        _serve_here(run, reuse_port=False)
    else:
        _supervise(run, options, workers)


def _serve_here(run, reuse_port):
    if threading.current_thread() is not threading.main_thread():
        run(reuse_port)
        return
    # Rust answers Ctrl-C with a graceful drain; Python's own handler, which Rust's calls too,
    # would then raise KeyboardInterrupt once serving has ended.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        run(reuse_port)
    finally:
        signal.signal(signal.SIGINT, previous)


def _start_worker(run):
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            _serve_here(run, reuse_port=True)
        except BaseException as e:  # noqa: BLE001 - the worker reports any failure and exits 1
            print(f"oxserve worker {os.getpid()}: {e}", file=sys.stderr, flush=True)
            code = 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    return pid


def _supervise(run, options, workers):
    """Forks the workers, restarts the ones that die, and passes SIGTERM/SIGINT on to them."""
    stopping = []

    def stop(signum, _frame):
        stopping.append(signum)
        for pid in started:
            _kill(pid, signal.SIGTERM)

    started = {}
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for _ in range(workers):
        started[_start_worker(run)] = time.monotonic()
    log.info("oxserve: %d workers on ports %d and %d", workers, options["http_port"], options["grpc_port"])
    failed = False
    while started:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        began = started.pop(pid, None)
        if began is None or stopping:
            continue
        code = os.waitstatus_to_exitcode(status)
        if code > 0 and time.monotonic() - began < STARTUP_GRACE:
            print(f"oxserve: worker {pid} failed at start-up (exit {code}); stopping", file=sys.stderr)
            failed = True
            stop(signal.SIGTERM, None)
            continue
        print(f"oxserve: worker {pid} exited ({code}); starting another", file=sys.stderr)
        started[_start_worker(run)] = time.monotonic()
    if failed:
        raise SystemExit(1)


def _kill(pid, signum):
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass
