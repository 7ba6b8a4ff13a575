"""Processes: `--workers N` shares the ports (SO_REUSEPORT) between N processes, each loading the
model once, and replaces a dead one; SIGTERM stops them all; Ctrl-C drains and exits 0."""

import os
import signal
import time

import requests

from conftest import MODELS_DIR, TIMEOUT, Server, python_command

BODY = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "data": [1]}]}


def answering_pids(server, calls=20):
    """Worker pids seen over `calls` requests, each on a new connection."""
    pids = set()
    for _ in range(calls):
        try:
            out = requests.post(server.url("/v2/models/inspect/infer"), json=BODY, timeout=TIMEOUT).json()
        except requests.ConnectionError:  # a connection that a killed worker had accepted
            continue
        pids.add(next(o["data"][0] for o in out["outputs"] if o["name"] == "pid"))
    return pids


def wait_for_workers(server, n, gone=()):
    """The pids of `n` answering workers, none of them in `gone`; fails after TIMEOUT."""
    deadline = time.monotonic() + TIMEOUT
    seen = set()
    while time.monotonic() < deadline:
        seen = answering_pids(server) | seen
        seen -= set(gone)
        if len(seen) == n:
            return seen
        time.sleep(0.1)
    raise AssertionError(f"expected {n} workers other than {gone}, saw {seen}")


def test_workers_share_the_port_and_are_restarted(iris):
    path, _, _ = iris
    server = Server(
        python_command(str(MODELS_DIR / "typed_models.py"), str(path), "{http}", "{grpc}", "2")
    ).start()
    try:
        pids = wait_for_workers(server, 2)
        assert server.proc.pid not in pids
        victim = min(pids)
        os.kill(victim, signal.SIGKILL)
        wait_for_workers(server, 2, gone=[victim])
    finally:
        assert server.stop() == 0
    assert "starting another" in server.output()


def test_ctrl_c_drains_and_exits_cleanly(iris):
    path, _, _ = iris
    server = Server(
        python_command(str(MODELS_DIR / "typed_models.py"), str(path), "{http}", "{grpc}")
    ).start()
    server.proc.send_signal(signal.SIGINT)
    assert server.proc.wait(TIMEOUT) == 0
    assert "drained" in server.output() and "Traceback" not in server.output()
