"""Benchmark oxserve against MLServer, KServe, Triton and Seldon's wrapper; write bench/RESULTS.md.

    make bench                  # or: python3 bench/run.py
    BENCH_QUICK=1 make bench    # 1 s warm-up + 3 s runs, to try it out

Started with any Python 3.11, it installs what is missing (the bench venv, one venv per peer
under bench/.venvs, wrk and h2load from apt, the oxserve release build, its Python package, Java
artifact and R package), then runs itself again inside the bench venv and: trains the models
(models.py), times onnxruntime and scikit-learn in-process (inprocess.py), and for each peer starts the server
pinned to one core, probes every (model, protocol) once, and loads it from the other core for
each concurrency. A peer that cannot be installed or started is recorded with its error; the
others go on. Last come two measurements of oxserve alone: the JNI crossing (a do-nothing model,
native and in Java) and graph hops (local and remote units added to a request's path).

Settings (environment variables; the flags of the same name win):
  BENCH_QUICK=1            1 s warm-up + 3 s measured runs
  BENCH_WARMUP=S           warm-up seconds (default 2)
  BENCH_DURATION=S         measured seconds (default 10)
  BENCH_CONCURRENCY=1,8,64 connections kept busy by the load generator
  BENCH_PEERS=a,b          only these peers (keys: oxserve, oxserve-batch, mlserver, ...) and
                           measurements (jni-crossing, graph-hops)
  BENCH_MODELS=iris,mlp    only these models
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import math
import os
import platform
import re
import shutil
import signal
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
VENVS = BENCH / ".venvs"
OUT = BENCH / "out"
REQUIREMENTS = BENCH / "requirements"
# cargo's target folder: the workspace's, or CARGO_TARGET_DIR as cargo itself reads it.
TARGET = Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target").resolve()
OXSERVE_BIN = TARGET / "release" / "oxserve"
JAVA_BUILD = OUT / "java"  # a copy of java/ built there, and the bench's Java models
R_LIBRARY = VENVS / "oxserve-r"  # the R library the oxserve R package is installed into
SERVER_CORE = 0
LOAD_CORE = 1
MODELS = ("iris", "mlp")
BATCH_ROWS = 32  # the batched in-process measurement, as max_batch_size of the batching peers


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


# --------------------------------------------------------------------------------------------
# Installation (runs with whatever python3 started the script: standard library only)
# --------------------------------------------------------------------------------------------


def ensure_venv(name: str) -> tuple[bool, str]:
    """Create bench/.venvs/<name> from bench/requirements/<name>.txt unless it is up to date."""
    venv = VENVS / name
    requirements = REQUIREMENTS / f"{name}.txt"
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()
    stamp = venv / ".installed"
    if stamp.exists() and stamp.read_text() == digest and (venv / "bin" / "python").exists():
        return True, ""
    log(f"installing {name} into {venv.relative_to(ROOT)} (pinned in {requirements.relative_to(ROOT)})")
    started = time.monotonic()
    steps = [
        [sys.executable, "-m", "venv", "--clear", str(venv)],
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--upgrade", "pip"],
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "-r", str(requirements)],
    ]
    for step in steps:
        proc = subprocess.run(step, capture_output=True, text=True)
        if proc.returncode != 0:
            return False, f"`{' '.join(step[-4:])}` failed (exit {proc.returncode}):\n{tail(proc.stderr)}"
    stamp.write_text(digest)
    log(f"installed {name} in {time.monotonic() - started:.0f} s")
    return True, ""


def ensure_apt_tools() -> None:
    """wrk (HTTP/1.1) and h2load (HTTP/2 for gRPC) from Debian, installed only when missing."""
    missing = [pkg for tool, pkg in (("wrk", "wrk"), ("h2load", "nghttp2-client")) if not shutil.which(tool)]
    if not missing:
        return
    log(f"apt-get install -y {' '.join(missing)}")
    install = ["apt-get", "install", "-y", "--no-install-recommends", *missing]
    if subprocess.run(install, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(install, check=True, capture_output=True)


def build_oxserve() -> None:
    log(f"cargo build --release --bin oxserve (into {TARGET})")
    subprocess.run(["cargo", "build", "--release", "--bin", "oxserve"], cwd=ROOT, check=True)


def build_oxserve_python() -> tuple[bool, str]:
    """Builds the `oxserve` Python package from this checkout (release, into the workspace's target
    folder, so it shares the oxserve build's compiled crates) and installs it in its bench venv."""
    venv = VENVS / "oxserve-python"
    wheels = OUT / "wheels"
    shutil.rmtree(wheels, ignore_errors=True)
    log("maturin build --release (the oxserve Python package)")
    steps = [
        [str(venv / "bin" / "maturin"), "build", "--release", "--quiet", "--out", str(wheels)],
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--force-reinstall", "--no-deps"],
    ]
    proc = subprocess.run(steps[0], cwd=ROOT / "python", capture_output=True, text=True)
    if proc.returncode == 0:
        proc = subprocess.run(
            [*steps[1], *map(str, wheels.glob("oxserve-*.whl"))], capture_output=True, text=True
        )
    if proc.returncode != 0:
        return (
            False,
            f"building the oxserve Python package failed (exit {proc.returncode}):\n{tail(proc.stderr)}",
        )
    return True, ""


def build_java() -> tuple[bool, str]:
    """The `io.oxserve:oxserve` jar with its native library built in release mode, then the Java
    models the bench serves (examples/java-model's IrisLogistic, bench/java/Echo.java) compiled
    against it into JAVA_BUILD/models.

    Maven builds a copy of java/ (pom.xml and src/main) in JAVA_BUILD, so that the bench leaves
    java/target to `make java-test`; cargo builds bindings/java into the usual target folder.
    """
    missing = [tool for tool in ("mvn", "javac", "java") if not shutil.which(tool)]
    if missing:
        return False, (
            f"{', '.join(missing)} not on the PATH: the Java peers need a JDK 17 and Maven "
            "(Debian: apt-get install openjdk-17-jdk-headless maven)"
        )
    log("mvn package (the io.oxserve:oxserve jar, release native library) and javac (bench models)")
    shutil.rmtree(JAVA_BUILD, ignore_errors=True)
    (JAVA_BUILD / "src").mkdir(parents=True)
    shutil.copy(ROOT / "java" / "pom.xml", JAVA_BUILD / "pom.xml")
    shutil.copytree(ROOT / "java" / "src" / "main", JAVA_BUILD / "src" / "main")
    maven = ["mvn", "-q", "-B", "-Dmaven.test.skip=true", f"-Dcargo.workspace={ROOT}"]
    maven += [
        f"-Dcargo.target.dir={TARGET}",
        "-Dcargo.profile=release",
        "-Dcargo.profile.dir=release",
        "package",
    ]
    proc = subprocess.run(maven, cwd=JAVA_BUILD, capture_output=True, text=True)
    if proc.returncode != 0:
        return (
            False,
            f"`mvn package` of java/ failed (exit {proc.returncode}):\n{tail(proc.stdout + proc.stderr)}",
        )
    sources = [
        ROOT / "examples" / "java-model" / "src" / "main" / "java" / "com" / "example" / "IrisLogistic.java",
        BENCH / "java" / "Echo.java",
    ]
    javac = ["javac", "--release", "17", "-Xlint:all", "-Werror", "-cp", str(java_jar())]
    proc = subprocess.run(
        [*javac, "-d", str(JAVA_BUILD / "models"), *map(str, sources)], capture_output=True, text=True
    )
    if proc.returncode != 0:
        return (
            False,
            f"javac of the bench's Java models failed (exit {proc.returncode}):\n{tail(proc.stderr)}",
        )
    return True, ""


def java_jar() -> Path:
    """The jar `build_java` made (its name carries the pom's version)."""
    jars = sorted((JAVA_BUILD / "target").glob("oxserve-*.jar"))
    return jars[0] if jars else JAVA_BUILD / "target" / "oxserve.jar"


def build_r() -> tuple[bool, str]:
    """The `oxserve` R package (r/) installed into R_LIBRARY with `R CMD INSTALL`, its Rust library
    built by cargo in release mode (into CARGO_TARGET_DIR when set, else bindings/r/target as
    `make r-install` does: bindings/r is a workspace of its own)."""
    if not shutil.which("R"):
        return (
            False,
            "R is not on the PATH: the R peers need R with its headers (Debian: apt-get install r-base-dev)",
        )
    log("R CMD INSTALL r (the oxserve R package, release build)")
    R_LIBRARY.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "CARGO_TARGET_DIR": os.environ.get("CARGO_TARGET_DIR") or str(ROOT / "bindings" / "r" / "target"),
    }
    env.pop("OXSERVE_CARGO_PROFILE", None)  # release, the Makevars default
    install = ["R", "CMD", "INSTALL", "--no-multiarch", f"--library={R_LIBRARY}", "r"]
    proc = subprocess.run(install, cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        return False, f"`R CMD INSTALL r` failed (exit {proc.returncode}):\n{tail(proc.stdout + proc.stderr)}"
    return True, ""


def install_steps(selected: list[str]) -> set[str] | None:
    """The venvs and builds that the selected peers and measurements need; None: every one."""
    if not selected:
        return None
    sys.path.insert(0, str(BENCH))
    from peers import all_peers
    from peers.crossing import crossing_peers

    classes = [cls for cls in all_peers() if cls.key in selected]
    classes += crossing_peers() if "jni-crossing" in selected else []
    return {cls.install or cls.venv for cls in classes} - {None}


def bootstrap(args: argparse.Namespace) -> None:
    """Everything `make bench` needs before the measurements; then re-run inside the bench venv."""
    os.environ["BENCH_T0"] = str(time.time())
    needed = install_steps(settings(args)["peers"])
    VENVS.mkdir(parents=True, exist_ok=True)
    ok, error = ensure_venv("bench")
    if not ok:
        sys.exit(f"the bench venv could not be installed: {error}")
    ensure_apt_tools()
    if not args.no_build:
        build_oxserve()
    install_errors = {}
    # The Java and R peers' builds: without --no-build, each is (re)built; either way a peer whose
    # build is missing is reported with the reason, and the others run.
    builds = {"oxserve-java": (build_java, java_jar()), "oxserve-r": (build_r, R_LIBRARY / "oxserve")}
    for name, (build, product) in builds.items():
        if needed is not None and name not in needed:
            continue
        ok, error = build() if not args.no_build else (product.exists(), f"{product} not built (--no-build)")
        if not ok:
            install_errors[name] = error
            log(f"{name}: {tail(error, 1)}; going on without it")
    for name in sorted(p.stem for p in REQUIREMENTS.glob("*.txt")):
        if name != "bench" and (needed is None or name in needed):
            ok, error = ensure_venv(name)
            if ok and name == "oxserve-python" and not args.no_build:
                ok, error = build_oxserve_python()
            if not ok:
                install_errors[name] = error
                log(f"{name}: install failed; going on without it")
    env = {**os.environ, "BENCH_IN_VENV": "1", "BENCH_INSTALL_ERRORS": json.dumps(install_errors)}
    python = str(VENVS / "bench" / "bin" / "python")
    os.execve(python, [python, str(Path(__file__).resolve()), *sys.argv[1:]], env)


# --------------------------------------------------------------------------------------------
# Servers: start pinned, watch the process tree's memory, stop
# --------------------------------------------------------------------------------------------


def process_tree(root: int) -> list[int]:
    """`root` and its descendants, found through /proc/*/stat parent ids."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def tree_memory_kib(root: int) -> tuple[int, int]:
    """(RSS, PSS) of `root` and its descendants, summed, in KiB.

    RSS counts a page shared by forked workers once per process (what `ps` shows, and what the
    report's RSS column sums); PSS divides each shared page among the processes sharing it, so
    its sum is the tree's real footprint.
    """
    rss = pss = 0
    for pid in process_tree(root):
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Rss:"):
                    rss += int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1])
        except OSError:
            pass
    return rss, pss


def tree_rss_kib(root: int) -> int:
    return tree_memory_kib(root)[0]


class RssSampler:
    """Samples the summed RSS and PSS of a process tree every 200 ms while a run lasts."""

    def __init__(self, pid: int):
        self.pid = pid
        self.peak_kib = self.peak_pss_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _sample(self) -> None:
        rss, pss = tree_memory_kib(self.pid)
        self.peak_kib = max(self.peak_kib, rss)
        self.peak_pss_kib = max(self.peak_pss_kib, pss)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(0.2)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._sample()


CLOCK_TICK = os.sysconf("SC_CLK_TCK")


def busy_seconds(cores=(SERVER_CORE, LOAD_CORE)) -> float:
    """CPU time spent not idle on `cores` since boot (/proc/stat), in seconds."""
    total = 0
    for line in Path("/proc/stat").read_text().splitlines():
        name, *values = line.split()
        if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cores:
            ticks = [int(v) for v in values[:8]]  # user nice system idle iowait irq softirq steal
            total += sum(ticks) - ticks[3] - ticks[4]
    return total / CLOCK_TICK


def tree_cpu_seconds(root: int) -> float:
    """User + system time of a process tree, reaped children included."""
    total = 0
    for pid in process_tree(root):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
    return total / CLOCK_TICK


class CpuAccount:
    """Where the CPU time of both cores went during a measured run.

    server: the server's process tree; load: the load generator and this harness; other: the
    rest of the two cores' busy time, i.e. anything else running on the machine (a build, a test
    suite), which takes time from the server or the load generator and so skews the numbers.
    All in percent of one core over the run.
    """

    def __init__(self, pid: int):
        self.pid = pid

    def _snapshot(self):
        import resource

        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        me = resource.getrusage(resource.RUSAGE_SELF)
        load = children.ru_utime + children.ru_stime + me.ru_utime + me.ru_stime
        return time.monotonic(), busy_seconds(), tree_cpu_seconds(self.pid), load

    def __enter__(self):
        self.start = self._snapshot()
        return self

    def __exit__(self, *exc):
        self.end = self._snapshot()

    def result(self) -> dict:
        wall, busy, server, load = (b - a for a, b in zip(self.start, self.end, strict=True))
        other = max(0.0, busy - server - load)
        pct = 100 / wall if wall > 0 else 0
        return {
            "server_cpu_pct": round(server * pct, 1),
            "load_cpu_pct": round(load * pct, 1),
            "other_cpu_pct": round(other * pct, 1),
        }


def port_open(port: int) -> bool:
    import socket

    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def http(method: str, url: str, body: bytes | None = None, headers=None, timeout=10.0):
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)
    except (urllib.error.URLError, OSError) as e:
        return 0, str(e).encode(), {}


class Server:
    """One running peer process (its own session and process group), pinned to the server core."""

    def __init__(self, peer, work: Path, models: list[str]):
        self.peer, self.work, self.models = peer, work, models
        self.log_path = work / "server.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        busy = [p for p in self.peer.ports() if port_open(p)]
        if busy:
            raise RuntimeError(f"port(s) {busy} already in use on 127.0.0.1")
        self.work.mkdir(parents=True, exist_ok=True)
        self.peer.prepare(self.work, self.models)
        cmd = ["taskset", "-c", str(SERVER_CORE), *self.peer.command(self.work, self.models)]
        env = {**os.environ, **self.peer.env(self.work)}
        for key in ("BENCH_IN_VENV", "BENCH_INSTALL_ERRORS", "VIRTUAL_ENV"):
            env.pop(key, None)
        (self.work / "command.txt").write_text(" ".join(cmd) + "\n")
        log(f"{self.peer.key}: starting {' '.join(cmd[3:5])} … ({', '.join(self.models)})")
        with open(self.log_path, "wb") as out:
            self.proc = subprocess.Popen(
                cmd, cwd=self.work, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        started = time.monotonic()
        url = f"http://127.0.0.1:{self.peer.http_port}{self.peer.ready_path(self.models)}"
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"exited with {self.proc.returncode} while starting:\n{self.log_tail()}")
            status, _, _ = http("GET", url, timeout=2)
            if status == 200 and all(self.model_ready(m) for m in self.models):
                break
            if time.monotonic() - started > self.peer.startup_timeout:
                raise RuntimeError(f"not ready after {self.peer.startup_timeout:.0f} s:\n{self.log_tail()}")
            time.sleep(0.5)
        self.startup_s = time.monotonic() - started
        rss = tree_rss_kib(self.proc.pid) / 1024
        log(f"{self.peer.key}: ready in {self.startup_s:.1f} s, RSS {rss:.0f} MiB")

    def model_ready(self, model: str) -> bool:
        if not self.peer.ready_path(self.models).startswith("/v2/"):
            return True
        status, _, _ = http(
            "GET", f"http://127.0.0.1:{self.peer.http_port}/v2/models/{model}/ready", timeout=2
        )
        return status == 200

    def log_tail(self, lines: int = 25) -> str:
        try:
            return tail(self.log_path.read_text(errors="replace"), lines)
        except OSError:
            return ""

    def stop(self) -> None:
        if not self.proc or self.proc.poll() is not None and not process_tree(self.proc.pid)[1:]:
            return
        pgid = self.proc.pid  # start_new_session: the group id is the leader's pid
        pids = process_tree(self.proc.pid)
        try:
            os.killpg(pgid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            log(f"{self.peer.key}: no exit 20 s after SIGTERM; SIGKILL")
        for pid in pids:  # descendants that left the group (a server's own workers) go too
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        deadline = time.monotonic() + 15
        while any(port_open(p) for p in self.peer.ports()) and time.monotonic() < deadline:
            time.sleep(0.2)


# --------------------------------------------------------------------------------------------
# Probes: one request per (model, protocol) before loading, checked against scikit-learn
# --------------------------------------------------------------------------------------------


SCHEDULER_COUNTERS = (
    "nv_inference_count",
    "nv_inference_exec_count",
    "oxserve_compute_duration_seconds_sum",
    "oxserve_compute_duration_seconds_count",
)


def scheduler_counters(peer, model: str) -> dict[str, float] | None:
    """The scheduler's cumulative counters of `model`, where the peer publishes them.

    nv_inference_count counts rows (requests × batch size), nv_inference_exec_count model
    executions: their ratio over a run is the mean batch the scheduler formed. oxserve's
    `oxserve_compute_duration_seconds` histogram times each execution, from the scheduler handing
    the batch to the model until its answer is back: its sum over its count is the mean time
    per call into the model, at full resolution.
    """
    if not peer.metrics_url:
        return None
    status, text, _ = http("GET", peer.metrics_url, timeout=5)
    if status != 200:
        return None
    totals = dict.fromkeys(SCHEDULER_COUNTERS, 0.0)
    for line in text.decode(errors="replace").splitlines():
        name, _, rest = line.partition("{")
        if name in totals and f'model="{model}"' in rest:
            totals[name] += float(line.rsplit(" ", 1)[1])
    return totals


def scheduler_figures(before: dict | None, after: dict | None) -> dict:
    """Mean batch and mean µs per model call between two `scheduler_counters` readings."""
    if not before or not after:
        return {}
    delta = {name: after[name] - before[name] for name in SCHEDULER_COUNTERS}
    figures = {}
    if delta["nv_inference_exec_count"] > 0:
        figures["mean_batch"] = round(delta["nv_inference_count"] / delta["nv_inference_exec_count"], 2)
    calls = delta["oxserve_compute_duration_seconds_count"]
    if calls > 0:
        figures["compute_us"] = round(delta["oxserve_compute_duration_seconds_sum"] / calls * 1e6, 2)
    return figures


def check_answer(protocol: str, body: bytes, headers: dict, expected: dict) -> str:
    """'' when the answer carries the expected label or probabilities; else what is wrong."""
    from peers import SELDON_JSON

    length = {k.lower(): v for k, v in headers.items()}.get("inference-header-content-length")
    try:
        doc = json.loads(body[: int(length)] if length else body)
    except ValueError:
        return f"answer is not JSON: {body[:200]!r}"
    if protocol == SELDON_JSON:
        values = doc.get("data", {}).get("ndarray") or doc.get("data", {}).get("tensor", {}).get("values")
        got = [v for row in values for v in row] if values and isinstance(values[0], list) else values
        # The wrapper answers predict_proba; oxserve answers the model's first output, the label.
        if _close(got, expected["probabilities"]) or _close(got, [expected["label"]]):
            return ""
        return f"unexpected answer {str(doc)[:300]}"
    outputs = {}
    binary = body[int(length) :] if length else b""
    for o in doc.get("outputs", []):
        flat = o.get("data")
        size = (o.get("parameters") or {}).get("binary_data_size")
        if flat is None and size is not None:
            # Binary output: its bytes follow the JSON header, in the order of the outputs.
            flat, binary = _unpack(o.get("datatype", ""), binary[: int(size)]), binary[int(size) :]
            if flat is None:
                continue  # a datatype the checks do not read
        while flat and isinstance(flat[0], list):
            flat = [v for row in flat for v in row]
        outputs[o.get("name")] = flat
    if not doc.get("outputs"):
        return f"answer has no outputs: {str(doc)[:300]}"
    return check_outputs(outputs, expected)


def _unpack(datatype: str, data: bytes) -> list | None:
    """Little-endian elements of a V2 binary tensor, for the datatypes the checks read."""
    code = {"FP32": "f", "FP64": "d", "INT64": "q", "INT32": "i"}.get(datatype)
    if code is None:
        return None
    return list(struct.unpack(f"<{len(data) // struct.calcsize(code)}{code}", data))


def check_outputs(outputs: dict, expected: dict) -> str:
    """'' when every known output matches the expected answer and there is one; else what is wrong.

    Known outputs: the label or the probabilities, checked against scikit-learn (`predict` is
    either: MLServer's is the label, an R model's the probability matrix); and the identity
    models' `output`, which must be the input row itself.
    """
    if "undecodable" in outputs:
        return f"answer could not be decoded: {outputs['undecodable']}"
    known = 0
    for name, flat in outputs.items():
        probabilities = name in ("probabilities", "predict_proba") or (
            name == "predict" and "probabilities" in expected and len(flat or ()) > 1
        )
        if probabilities:
            if not _close(flat, expected["probabilities"]):
                return f"{name} = {flat}, scikit-learn says {expected['probabilities']}"
        elif name in ("label", "predict"):
            if not flat or int(flat[0]) != expected["label"]:
                return f"{name} = {flat}, scikit-learn says {expected['label']}"
        elif name == "output":
            if not _close(flat, expected["row"]):
                return f"{name} = {flat}, not the input row {expected['row']}"
        else:
            continue
        known += 1
    return "" if known else f"no output to check (label, probabilities, predict, output) in {sorted(outputs)}"


def _close(got, want) -> bool:
    try:
        return len(got) == len(want) and all(abs(float(a) - b) < 1e-3 for a, b in zip(got, want, strict=True))
    except (TypeError, ValueError):
        return False


def error_summary(answer: bytes) -> str:
    """A server's error body, or the exception line of a Python traceback sent as one."""
    text = answer.decode(errors="replace").strip()
    if "Traceback (most recent call last)" in text:
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        return f"Python traceback ending in: {lines[-1][:300]}"
    return text[:300]


def probe_http(peer, protocol: str, model: str, body) -> dict:
    url = f"http://127.0.0.1:{peer.http_port}{peer.infer_path(protocol, model)}"
    status, answer, headers = http("POST", url, body.data, body.headers)
    if status != 200:
        return {"ok": False, "error": f"HTTP {status}: {error_summary(answer)}", "url": url}
    wrong = check_answer(protocol, answer, headers, peer.payload(model))
    return {"ok": not wrong, "error": wrong, "url": url, "answer": answer[:400].decode(errors="replace")}


def probe_grpc(peer, model: str) -> dict:
    import grpc
    import load

    target = f"127.0.0.1:{peer.grpc_port}"
    errors = []
    with grpc.insecure_channel(target) as channel:
        call = channel.unary_unary(load.GRPC_INFER)
        for raw in (True, False):
            message = load.model_infer_request(model, peer.payload(model), raw)
            try:
                answer = call(message, timeout=10)
            except grpc.RpcError as e:
                errors.append(
                    f"{'raw_input_contents' if raw else 'fp32_contents'}: {e.code().name} {e.details()}"
                )
                continue
            try:
                outputs = load.model_infer_response_outputs(answer)
            except (ValueError, IndexError, struct.error) as e:
                outputs = {"undecodable": str(e)}
            wrong = check_outputs(outputs, peer.payload(model)) if outputs else "answer has no outputs"
            return {
                "ok": not wrong,
                "error": wrong,
                "answer": str(outputs)[:400],
                "encoding": "raw_input_contents" if raw else "fp32_contents",
                "message": message,
                "answer_bytes": len(answer) + 5,
                "url": f"http://{target}{load.GRPC_INFER}",
            }
    return {"ok": False, "error": "; ".join(errors), "url": f"http://{target}{load.GRPC_INFER}"}


# --------------------------------------------------------------------------------------------
# The measurements
# --------------------------------------------------------------------------------------------


def bodies(payload: dict) -> dict:
    import load
    from peers import SELDON_JSON, V2_BINARY, V2_JSON

    return {
        V2_JSON: load.v2_json(payload),
        V2_BINARY: load.v2_binary(payload),
        SELDON_JSON: load.seldon_json(payload),
    }


def measure_peer(peer, cfg: dict, results: dict) -> None:
    """Start the peer (once, or once per model), probe and load every (model, protocol, concurrency)."""
    served = [m for m in cfg["models"] if peer.models is None or m in peer.models]
    groups = [[m] for m in served] if peer.per_model else [served] if served else []
    record = results["peers"].setdefault(peer.key, {"label": peer.label, "note": peer.note, "errors": []})
    for models in groups:
        work = OUT / "work" / (peer.key if not peer.per_model else f"{peer.key}-{models[0]}")
        if work.exists():
            shutil.rmtree(work)
        server = Server(peer, work, models)
        try:
            server.start()
        except Exception as e:  # noqa: BLE001 - any failure to start is reported, not raised
            record["errors"].append(f"start ({', '.join(models)}): {e}")
            log(f"{peer.key}: could not start: {tail(str(e), 3)}")
            server.stop()
            continue
        record.setdefault("startup_s", {})[",".join(models)] = round(server.startup_s, 2)
        record.setdefault("idle_rss_mib", {})[",".join(models)] = round(
            tree_rss_kib(server.proc.pid) / 1024, 1
        )
        try:
            for model in models:
                payload = peer.payload(model)
                for protocol in peer.protocols:
                    if protocol in cfg["skip"].get(peer.key, ()):
                        continue
                    results["rows"].append(measure_protocol(peer, server, model, payload, protocol, cfg))
        finally:
            notes = [
                re.sub(r"\x1b\[[0-9;]*m", "", line)
                for line in server.log_tail(400).splitlines()
                if "batch" in line.lower() and ("warn" in line.lower() or "no effect" in line.lower())
            ]
            if notes:
                record["server_warnings"] = sorted(set(record.get("server_warnings", []) + notes[-3:]))
            server.stop()


def measure_protocol(peer, server: Server, model: str, payload: dict, protocol: str, cfg) -> dict:
    """Probe, load at each concurrency, probe again: the row of (peer, model, protocol)."""
    import load
    from peers import V2_GRPC

    key = f"{peer.key}/{model}/{protocol}"
    folder = OUT / "payloads" / peer.key / model
    if protocol == V2_GRPC:
        probe = probe_grpc(peer, model)
    else:
        body = bodies(payload)[protocol]
        probe = probe_http(peer, protocol, model, body)
    entry = {"peer": peer.key, "model": model, "protocol": protocol, "url": probe.get("url"), "runs": []}
    if not probe["ok"]:
        entry["probe_error"] = probe["error"]
        log(f"{key}: probe failed, not loaded: {probe['error'][:200]}")
        return entry
    entry["probe_answer"] = probe.get("answer", "")
    if protocol == V2_GRPC:
        entry["grpc_encoding"] = probe["encoding"]
        body_file = folder / f"{protocol.replace(' ', '_')}.bin"
        body_file.parent.mkdir(parents=True, exist_ok=True)
        body_file.write_bytes(load.grpc_frame(probe["message"]))
    else:
        script = load.write_wrk_script(folder, protocol.replace(" ", "_"), body)
    for concurrency in cfg["concurrency"]:
        try:
            with RssSampler(server.proc.pid) as rss:
                if protocol == V2_GRPC:
                    log_file = folder / f"h2load-{concurrency}.log"
                    args = (LOAD_CORE, probe["url"], body_file, concurrency)
                    load.run_h2load(*args, cfg["warmup"], log_file, probe["answer_bytes"])
                    before = scheduler_counters(peer, model)
                    with CpuAccount(server.proc.pid) as cpu:
                        run = load.run_h2load(*args, cfg["duration"], log_file, probe["answer_bytes"])
                else:
                    load.run_wrk(LOAD_CORE, probe["url"], script, concurrency, cfg["warmup"])
                    before = scheduler_counters(peer, model)
                    with CpuAccount(server.proc.pid) as cpu:
                        run = load.run_wrk(LOAD_CORE, probe["url"], script, concurrency, cfg["duration"])
            run.update(cpu.result())
            run.update(scheduler_figures(before, after=scheduler_counters(peer, model)))
        except Exception as e:  # noqa: BLE001 - a failed run is a row with its error
            entry["runs"].append({"concurrency": concurrency, "error": str(e)[:500]})
            log(f"{key} c={concurrency}: {e}")
            continue
        if server.proc.poll() is not None:
            run["error"] = f"server exited with {server.proc.returncode} during the run"
        run.update(
            concurrency=concurrency,
            peak_rss_mib=round(rss.peak_kib / 1024, 1),
            peak_pss_mib=round(rss.peak_pss_kib / 1024, 1),
        )
        entry["runs"].append(run)
        log(
            f"{key} c={concurrency}: {run['rps']:.0f} req/s, p50 {run['p50_ms']:.2f} ms, "
            f"p99 {run['p99_ms']:.2f} ms, errors {run['errors']}, RSS {run['peak_rss_mib']:.0f} MiB, "
            f"CPU % server {run['server_cpu_pct']:.0f} load {run['load_cpu_pct']:.0f} "
            f"other {run['other_cpu_pct']:.0f}"
            + (f", {run['compute_us']:.1f} µs per model call" if "compute_us" in run else "")
        )
        if server.proc.poll() is not None:
            break
    # The same request once more after the load: the server still answers it correctly.
    after = probe_grpc(peer, model) if protocol == V2_GRPC else probe_http(peer, protocol, model, body)
    if not after["ok"]:
        entry["probe_after_error"] = after["error"]
    return entry


def measure_group(name: str, group: list, cfg: dict, concurrency: list[int], results: dict) -> None:
    """Measures each server of `group` (one model, V2 REST JSON) at `concurrency`, in turn, into
    `results[name]`; a server's `needs` (a remote unit's server) runs beside it meanwhile."""
    from peers import V2_JSON

    section = results[name]
    for peer in group:
        if peer.install_step in results["install_errors"]:
            section["errors"].append(f"{peer.label}: not run: {peer.install_step} could not be built")
            continue
        (model,) = peer.models
        servers = []
        try:
            for member in [peer.needs(peer.ctx), peer] if peer.needs else [peer]:
                work = OUT / "work" / name / member.key
                shutil.rmtree(work, ignore_errors=True)
                servers.append(Server(member, work, [model]))
                servers[-1].start()
            row = measure_protocol(
                peer, servers[-1], model, peer.payload(model), V2_JSON, {**cfg, "concurrency": concurrency}
            )
            section["rows"].append({**row, "label": peer.label, "note": peer.note})
        except Exception as e:  # noqa: BLE001 - a server that cannot start is reported, not raised
            section["errors"].append(f"{peer.label}: {e}")
            log(f"{name}/{peer.key}: {tail(str(e), 3)}")
        finally:
            for server in reversed(servers):
                server.stop()


def measure_inprocess(cfg: dict, results: dict) -> None:
    cmd = [
        "taskset",
        "-c",
        str(SERVER_CORE),
        sys.executable,
        str(BENCH / "inprocess.py"),
        str(OUT / "models"),
    ]
    for model in cfg["models"]:
        cmd += ["--model", model]
    cmd += ["--seconds", str(cfg["duration"]), "--batch", str(BATCH_ROWS)]
    log("the models in-process (onnxruntime, scikit-learn): " + " ".join(cmd[3:]))
    with CpuAccount(os.getpid()) as cpu:  # the loop is a child: its time counts as "load"
        proc = subprocess.run(cmd, capture_output=True, text=True)
    results["inprocess_other_cpu_pct"] = cpu.result()["other_cpu_pct"]
    if proc.returncode != 0:
        results["inprocess_error"] = tail(proc.stderr)
        return
    results["inprocess"] = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


# --------------------------------------------------------------------------------------------
# Machine and versions
# --------------------------------------------------------------------------------------------


def command_output(cmd: list[str]) -> str:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"unavailable ({e})"
    return (proc.stdout + proc.stderr).strip()


def first_line(cmd: list[str]) -> str:
    """The first line a command prints (a tool's version), without terminal colour codes."""
    return (re.sub(r"\x1b\[[0-9;]*m", "", command_output(cmd)).splitlines() or ["?"])[0]


def machine() -> dict:
    lscpu = command_output(["lscpu"])
    model = next((line.split(":", 1)[1].strip() for line in lscpu.splitlines() if "Model name" in line), "?")
    mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
    debian = Path("/etc/debian_version").read_text().strip() if Path("/etc/debian_version").exists() else "?"
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "os": f"Debian {debian}",
        "python": platform.python_version(),
        "rustc": command_output(["rustc", "--version"]),
        "oxserve": command_output([str(OXSERVE_BIN), "version"]),
        "oxserve_commit": command_output(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]),
        "oxserve_dirty": bool(
            command_output(
                ["git", "-C", str(ROOT), "status", "--porcelain", "crates", "bindings", "java", "r"]
            )
        ),
        "onnxruntime_oxserve": pip_versions(ROOT / ".venv", ("onnxruntime",)).get("onnxruntime", "?"),
        "java": first_line(["java", "-version"]),
        "maven": first_line(["mvn", "-B", "-v"]),
        "r": first_line(["R", "--version"]),
        "wrk": command_output(["wrk", "-v"]).splitlines()[0].split(" [")[0],
        "h2load": command_output(["h2load", "--version"]).splitlines()[0],
    }


def pip_versions(venv: Path, names) -> dict:
    out = command_output([str(venv / "bin" / "python"), "-m", "pip", "list", "--format=json"])
    try:
        installed = {p["name"].lower().replace("_", "-"): p["version"] for p in json.loads(out)}
    except ValueError:
        return {}
    return {n: installed[n] for n in names if n in installed}


# --------------------------------------------------------------------------------------------


def settings(args: argparse.Namespace) -> dict:
    quick = args.quick or os.environ.get("BENCH_QUICK", "") not in ("", "0")
    # Whole seconds: wrk's -d takes no fractions.
    warmup = max(1, math.ceil(args.warmup or float(os.environ.get("BENCH_WARMUP", 1 if quick else 2))))
    duration = max(1, math.ceil(args.duration or float(os.environ.get("BENCH_DURATION", 3 if quick else 10))))
    concurrency = args.concurrency or os.environ.get("BENCH_CONCURRENCY", "1,8,64")
    peers = args.peers or os.environ.get("BENCH_PEERS", "")
    models = args.models or os.environ.get("BENCH_MODELS", ",".join(MODELS))
    return {
        "quick": quick,
        "warmup": warmup,
        "duration": duration,
        "concurrency": [int(c) for c in concurrency.split(",") if c],
        "peers": [p for p in peers.split(",") if p],
        "models": [m for m in models.split(",") if m],
        # oxserve's batching variant is compared on V2 only; the Seldon row is oxserve's own.
        "skip": {"oxserve-batch": ("Seldon REST JSON",)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 s warm-up + 3 s runs (BENCH_QUICK=1)")
    parser.add_argument("--warmup", type=float, help="warm-up seconds per run, whole (BENCH_WARMUP)")
    parser.add_argument("--duration", type=float, help="measured seconds per run (BENCH_DURATION)")
    parser.add_argument("--concurrency", help="comma-separated, e.g. 1,8,64 (BENCH_CONCURRENCY)")
    parser.add_argument("--peers", help="comma-separated peer keys (BENCH_PEERS)")
    parser.add_argument("--models", help="comma-separated models (BENCH_MODELS)")
    parser.add_argument("--no-build", action="store_true", help="use target/release/oxserve as it is")
    parser.add_argument(
        "--render", action="store_true", help="only rewrite RESULTS.md from bench/out/results.json"
    )
    args = parser.parse_args()

    if args.render:
        sys.path.insert(0, str(BENCH))
        import report

        results = json.loads((OUT / "results.json").read_text())
        (BENCH / "RESULTS.md").write_text(report.render(results))
        return
    if not os.environ.get("BENCH_IN_VENV"):
        bootstrap(args)  # does not return: runs this script again in the bench venv
    sys.path.insert(0, str(BENCH))
    import peers
    import report
    from peers.crossing import crossing_peers
    from peers.graphs import LOCAL_HOPS, hop_peers, seldon_executor

    os.sched_setaffinity(0, {LOAD_CORE})  # the orchestrator keeps off the server's core
    cfg = settings(args)
    started = time.monotonic()
    results = {
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "t0": float(os.environ.get("BENCH_T0", time.time())),
        "command": " ".join(
            [
                *(["BENCH_QUICK=1"] if cfg["quick"] else []),
                *([f"SELDON_EXECUTOR={seldon_executor()}"] if seldon_executor() else []),
                "make bench",
            ]
        ),
        "settings": {k: v for k, v in cfg.items() if k != "skip"},
        "machine": machine(),
        "install_errors": json.loads(os.environ.get("BENCH_INSTALL_ERRORS", "{}")),
        "peers": {},
        "rows": [],
    }
    OUT.mkdir(parents=True, exist_ok=True)
    log("training the models (scikit-learn) and exporting ONNX (skl2onnx)")
    subprocess.run([sys.executable, str(BENCH / "models.py"), str(OUT / "models")], check=True)
    results["models"] = {
        m: json.loads((OUT / "models" / m / "payload.json").read_text()) for m in cfg["models"]
    }
    measure_inprocess(cfg, results)

    ctx = peers.Context(
        ROOT, BENCH, VENVS, OUT / "models", OXSERVE_BIN, java_jar(), JAVA_BUILD / "models", R_LIBRARY
    )
    for cls in peers.all_peers():
        peer = cls(ctx)
        if cfg["peers"] and peer.key not in cfg["peers"]:
            continue
        record = results["peers"].setdefault(peer.key, {"label": peer.label, "note": peer.note, "errors": []})
        if peer.venv:
            record["versions"] = pip_versions(VENVS / peer.venv, peer.packages)
        if peer.install_step in results["install_errors"]:
            record["errors"].append(f"install: {results['install_errors'][peer.install_step]}")
            continue
        measure_peer(peer, cfg, results)
        write(results, started, report)  # a partial report survives an interrupted run

    # Two measurements of oxserve alone, each a few servers on one model (see README.md).
    loaded = max(cfg["concurrency"])
    extra = {
        "jni-crossing": ([cls(ctx) for cls in crossing_peers()], [1], {}),
        "graph-hops": (hop_peers(ctx), sorted({1, loaded}), {"local_hops": LOCAL_HOPS}),
    }
    for name, (group, concurrency, facts) in extra.items():
        if not cfg["peers"] or name in cfg["peers"]:
            log(f"{name}: {', '.join(p.key for p in group)} at concurrency {concurrency}")
            results[name] = {"rows": [], "errors": [], **facts}
            measure_group(name, group, cfg, concurrency, results)
            write(results, started, report)

    write(results, started, report)
    log(f"done in {(time.monotonic() - started) / 60:.1f} min: {(BENCH / 'RESULTS.md').relative_to(ROOT)}")


def write(results: dict, started: float, report) -> None:
    results["elapsed_s"] = round(time.monotonic() - started, 1)
    results["elapsed_with_install_s"] = round(time.time() - results["t0"], 1)
    stamp = results["started"].replace(":", "").replace("-", "")[:15]
    text = json.dumps(results, indent=2, default=str)
    (OUT / f"results-{stamp}.json").write_text(text)
    (OUT / "results.json").write_text(text)
    (BENCH / "RESULTS.md").write_text(report.render(results))


if __name__ == "__main__":
    main()
