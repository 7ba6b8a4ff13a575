"""Render bench/RESULTS.md from the results run.py gathers (also written raw to bench/out/)."""

from __future__ import annotations

import math

PROTOCOL_NOTES = {
    "V2 REST JSON": "`POST /v2/models/{m}/infer`, JSON tensor (`data` inline)",
    "V2 REST binary": "`POST /v2/models/{m}/infer`, JSON header + raw FP32 bytes "
    "(`Inference-Header-Content-Length`)",
    "V2 gRPC": "`inference.GRPCInferenceService/ModelInfer`, unary, over h2c",
    "Seldon REST JSON": 'Seldon protocol, not V2: `{"data": {"ndarray": [[...]]}}` to '
    "`/api/v1.0/predictions` (oxserve: `/seldon/bench/{m}/api/v1.0/predictions`; it answers the "
    "model's first output, the label, where the wrapper's model answers `predict_proba`)",
}


# What the harness does to get each peer running on Python 3.11 (see bench/requirements/*.txt).
SETUP_NOTES = [
    "Seldon Core is 1.18.2: 1.19.0 requires Python >= 3.12. Its gunicorn 20.1 imports "
    "`pkg_resources`, so its venv holds setuptools below 81.",
    "MLServer 1.7.1 runs with uvloop 0.21.0: with uvloop 0.22+ its inference workers die at start "
    "(`RuntimeError: There is no current event loop in thread 'MainThread'`) and no model loads.",
    "PyTriton's Python backend stub links `libpython3.11.so.1.0`; the harness puts the venv's own "
    "interpreter library first on `LD_LIBRARY_PATH`, else Debian's 3.11.2 is loaded under a newer "
    "3.11 standard library and the model fails to load (`'_thread.RLock' object has no attribute "
    "'_recursion_count'`).",
    "The joblib files are written with numpy 1.26: PyTriton and seldon-core need numpy 1.x, which "
    "cannot read the MLP's numpy 2 pickle; numpy 2 (MLServer, KServe) reads numpy 1 pickles.",
    "Every probe (one request per model and protocol, before and after the load) is checked "
    "against scikit-learn's label or probabilities, gRPC answers included.",
]


def fmt(value, digits=2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}"


def render(r: dict) -> str:
    m, s = r["machine"], r["settings"]
    order = list(r["peers"])
    labels = {k: v["label"] for k, v in r["peers"].items()}
    out = ["# oxserve benchmark results", ""]
    mode = "quick mode, " if s["quick"] else ""
    dirty = ", with uncommitted changes in crates/, bindings/, java/ or r/" if m["oxserve_dirty"] else ""
    out += [
        f"Written by `{r['command']}` (`python3 bench/run.py`) on {r['started']} "
        f"({mode}{fmt(s['warmup'], 0)} s warm-up + {fmt(s['duration'], 0)} s measured per run, "
        f"concurrency {', '.join(map(str, s['concurrency']))}). "
        f"Measurements took {r['elapsed_s'] / 60:.1f} min; with installs and the build "
        f"{r.get('elapsed_with_install_s', r['elapsed_s']) / 60:.1f} min. "
        "Raw numbers: `bench/out/results.json`. How to read this: `bench/README.md`.",
        "",
        "## Machine",
        "",
        "| | |",
        "| --- | --- |",
        f"| CPU | {m['cpu']}, {m['cores']} cores |",
        f"| memory | {m['memory_gib']} GiB |",
        f"| OS, kernel | {m['os']}, Linux {m['kernel']} |",
        f"| Python, Rust | {m['python']}, {m['rustc']} |",
        f"| oxserve | {m['oxserve']} (commit {m['oxserve_commit']}{dirty}), release build, "
        f"onnxruntime {m['onnxruntime_oxserve']} |",
        f"| Java, R | {m.get('java', '?')}; {m.get('maven', '?')}; {m.get('r', '?')} |",
        f"| load generators | {m['wrk']} (REST); {m['h2load']} (gRPC) |",
        "| placement | server process tree pinned to core 0, load generator to core 1 (`taskset`), "
        "loopback |",
        "",
        *other_load(r),
        "## Peers",
        "",
        "| server | versions | setup | status |",
        "| --- | --- | --- | --- |",
    ]
    for key in order:
        p = r["peers"][key]
        versions = ", ".join(f"{n} {v}" for n, v in p.get("versions", {}).items()) or "(this repository)"
        status = "ran" if not p["errors"] else "**failed**: see below"
        if p["errors"] and any(row["peer"] == key and row["runs"] for row in r["rows"]):
            status = "ran in part: see below"
        out.append(f"| {p['label']} | {versions} | {p['note']} | {status} |")
    warnings = [
        f"- {labels[key]} logged: `{warning.strip()[:300]}`"
        for key in order
        for warning in r["peers"][key].get("server_warnings", [])
    ]
    out += ["", *warnings, *([""] if warnings else [])]
    out += ["Setup notes:", "", *(f"- {note}" for note in SETUP_NOTES)]
    out += ["", "## The limit: the model in-process", ""]
    if r.get("inprocess"):
        out += [
            "onnxruntime's `InferenceSession.run` on the same ONNX file (one intra-op thread), and "
            "scikit-learn's `predict_proba` on the joblib file the Python peers serve: what oxserve's "
            "ONNX and Python rows can at best reach. Pinned to core 0, every call timed in a tight "
            "Python loop (no server, no protocol).",
            "",
            "| runtime | model | rows per call | calls | p50 µs/call | p99 µs/call | µs per row | rows/s |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for x in r["inprocess"]:
            runtime = x.get("runtime", f"onnxruntime {x.get('onnxruntime', '')}")
            out.append(
                f"| {runtime} | {x['model']} | {x['batch']} | {fmt(x['calls'])} | {fmt(x['p50_us'])} | "
                f"{fmt(x['p99_us'])} | {fmt(x['us_per_row'], 3)} | {fmt(x['rows_per_s'], 0)} |"
            )
    else:
        out.append(f"Failed: `{r.get('inprocess_error', 'not run')}`")
    out.append("")

    rows = {(x["peer"], x["model"], x["protocol"]): x for x in r["rows"]}
    out += summary(r, rows, order, labels)
    models = r["settings"]["models"]
    protocols = list(PROTOCOL_NOTES)
    for model in models:
        for protocol in protocols:
            present = [k for k in order if (k, model, protocol) in rows]
            if not present:
                continue
            out += [
                f"## {model} — {protocol}",
                "",
                f"{PROTOCOL_NOTES[protocol]}; one row of {r['models'][model]['features']} floats "
                "per request.",
                "",
                "| server | concurrency | req/s | p50 ms | p99 ms | errors | peak RSS MiB | peak PSS MiB "
                "| server CPU % | other CPU % | mean batch | µs per model call | req/s ÷ oxserve |",
                "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
            ]
            base = {
                run["concurrency"]: run.get("rps")
                for run in rows.get(("oxserve", model, protocol), {}).get("runs", [])
                if "rps" in run
            }
            failed = []
            for c in s["concurrency"]:
                for key in present:
                    row = rows[(key, model, protocol)]
                    if "probe_error" in row:
                        continue
                    run = next((x for x in row["runs"] if x["concurrency"] == c), None)
                    if run is None:
                        continue
                    if "rps" not in run:
                        failure = f"run failed: {_one_line(run['error'])[:120]}"
                        out.append(
                            f"| {labels[key]} | {c} | – | – | – | {failure} | – | – | – | – | – | – | – |"
                        )
                        continue
                    errors = fmt(run["errors"])
                    if run.get("error_detail"):
                        errors += " (" + ", ".join(f"{k} {v}" for k, v in run["error_detail"].items()) + ")"
                    ratio = f"{run['rps'] / base[c]:.2f}×" if base.get(c) else "–"
                    out.append(
                        f"| {labels[key]} | {c} | {fmt(run['rps'], 0)} | {fmt(run['p50_ms'])} | "
                        f"{fmt(run['p99_ms'])} | {errors} | {fmt(run['peak_rss_mib'], 0)} | "
                        f"{fmt(run.get('peak_pss_mib'), 0)} | {fmt(run.get('server_cpu_pct'), 0)} | "
                        f"{fmt(run.get('other_cpu_pct'), 0)}{busy_mark(run)} | "
                        f"{fmt(run.get('mean_batch'))} | {fmt(run.get('compute_us'), 1)} | {ratio} |"
                    )
            for key in present:
                row = rows[(key, model, protocol)]
                if "probe_error" in row:
                    failed.append(
                        f"- {labels[key]}: not measured, the probe request failed: "
                        f"`{_one_line(row['probe_error'])}`"
                    )
                if "probe_after_error" in row:
                    failed.append(
                        f"- {labels[key]}: the request failed after the load: "
                        f"`{_one_line(row['probe_after_error'])}`"
                    )
                if row.get("grpc_encoding") == "fp32_contents":
                    failed.append(
                        f"- {labels[key]}: refused `raw_input_contents`; measured with `fp32_contents`"
                    )
            out += ["", *failed, ""] if failed else [""]

    out += crossing(r, rows)
    out += hops(r)

    problems = [(k, e) for k in order for e in r["peers"][k]["errors"]]
    problems += [(section, e) for section in EXTRA for e in r.get(section, {}).get("errors", [])]
    labels.update(EXTRA)
    refused = [row for row in r["rows"] if "probe_error" in row]
    out += ["## What failed", ""]
    if not problems and not refused:
        out += ["Nothing: every peer installed, started and answered every protocol it was sent.", ""]
    if refused:
        out += ["Protocols a peer did not answer (no load was sent; the probe's answer):", ""]
        groups: dict[tuple[str, str], list[dict]] = {}
        for row in refused:
            groups.setdefault((row["peer"], row["protocol"]), []).append(row)
        for (peer, protocol), hit in groups.items():
            models_hit = ", ".join(x["model"] for x in hit)
            out.append(f"- {labels[peer]}, {protocol} ({models_hit}): `{_one_line(hit[0]['probe_error'])}`")
        out.append("")
    for key, error in problems:
        out += [
            f"**{labels[key]}** — {error.splitlines()[0]}",
            "",
            "```",
            *error.splitlines()[1:][-20:],
            "```",
            "",
        ]
    return "\n".join(out).rstrip() + "\n"


# The measurements of oxserve alone (bench/run.py's `measure_group`), by their key in the results.
EXTRA = {"jni-crossing": "JNI crossing", "graph-hops": "graph hops"}


def _runs(section: dict) -> dict[str, dict[int, dict]]:
    """peer key -> concurrency -> measured run, for the rows of a section that were measured."""
    return {
        row["peer"]: {run["concurrency"]: run for run in row["runs"] if "rps" in run}
        for row in section.get("rows", [])
    }


def _value(run: dict, field: str) -> float | None:
    """A run's `p50_us`, `per_request_us` (1 ÷ req/s: at concurrency 1 the mean round trip, load
    generator included), `compute_us` or `rps`."""
    if field == "p50_us":
        return run["p50_ms"] * 1000 if "p50_ms" in run else None
    if field == "per_request_us":
        return 1e6 / run["rps"] if run.get("rps") else None
    return run.get(field)


def _difference(runs: dict, a: str, b: str, field: str, level: int = 1) -> float | None:
    """`field` of a's run less b's at `level`, when both were measured."""
    x, y = (_value(runs.get(key, {}).get(level, {}), field) for key in (a, b))
    return None if x is None or y is None else x - y


def _extra_table(section: dict, levels: list[int]) -> list[str]:
    """One line per server of a section: latency at concurrency 1, req/s at each level."""
    calls = any("compute_us" in run for row in section.get("rows", []) for run in row["runs"])
    head = ["p50 µs c=1", "1 ÷ req/s µs c=1", *(["µs per model call c=1"] if calls else [])]
    head += [f"req/s c={c}" for c in levels]
    out = [f"| server | {' | '.join(head)} | errors |", "| --- |" + " ---: |" * (len(head) + 1)]
    for row in section.get("rows", []):
        if "probe_error" in row:
            failure = f"probe failed: `{_one_line(row['probe_error'])[:150]}`"
            out.append(f"| {row['label']} |" + " – |" * len(head) + f" {failure} |")
            continue
        runs = {run["concurrency"]: run for run in row["runs"]}
        one = runs.get(1, {})
        cells = [fmt(_value(one, "p50_us"), 0), fmt(_value(one, "per_request_us"), 0)]
        cells += [fmt(one.get("compute_us"), 1)] if calls else []
        cells += [fmt(runs.get(c, {}).get("rps"), 0) for c in levels]
        failed = [run["error"] for run in runs.values() if "error" in run]
        errors = fmt(sum(run.get("errors", 0) for run in runs.values()))
        errors += f"; `{_one_line(failed[0])[:100]}`" if failed else ""
        out.append(f"| {row['label']} | {' | '.join(cells)} | {errors} |")
    return [*out, ""]


def crossing(r: dict, rows: dict) -> list[str]:
    """The JNI crossing section: a do-nothing model served natively and from Java."""
    section = r.get("jni-crossing")
    if not section:
        return []
    out = [
        "## Java: the JNI crossing per request",
        "",
        "A model that does nothing, served natively (ONNX `Identity` in `oxserve serve`) and in Java "
        "(`bench/java/Echo.java` behind the jar's runner, answering the array it got): one row of 4 "
        "floats per request, V2 REST JSON, concurrency 1. *µs per model call* is the server's own time "
        "per call into the model (`oxserve_compute_duration_seconds`, sum ÷ count: from the scheduler "
        "handing the request over until the answer is back); for Java it covers the hand-off to the "
        "JVM worker thread, the JNI call, the tensors converted into Java and back, and the wake-up "
        "of the waiting request. *1 ÷ req/s* is the mean round trip, load generator included.",
        "",
        *_extra_table(section, [1]),
    ]
    runs = _runs(section)
    model = _difference(runs, "crossing-java", "crossing-onnx", "compute_us")
    if model is not None:
        p50 = _difference(runs, "crossing-java", "crossing-onnx", "p50_us")
        trip = _difference(runs, "crossing-java", "crossing-onnx", "per_request_us")
        out.append(
            f"**JNI crossing cost: {model:.1f} µs per request** (the Java echo's time per model call less "
            f"the native identity's); end to end, the Java echo's p50 is {fmt(p50, 0)} µs and its "
            f"round trip {fmt(trip, 0)} µs above the native one's."
        )
    names = {"oxserve": "ONNX (oxserve)", "oxserve-java": "Java (IrisLogistic)", "oxserve-r": "R"}
    measured = {}
    for key, name in names.items():
        runs_iris = rows.get((key, "iris", "V2 REST JSON"), {}).get("runs", [])
        run = next((x for x in runs_iris if x["concurrency"] == 1 and "compute_us" in x), None)
        if run:
            measured[name] = run["compute_us"]
    if len(measured) > 1:
        each = ", ".join(f"{name} {value:.1f} µs" for name, value in measured.items())
        out += ["", f"The iris model itself, V2 REST JSON at concurrency 1, per model call: {each}."]
    return [*out, ""]


def hops(r: dict) -> list[str]:
    """The graph-hops section: latency and CPU each local and remote hop adds."""
    section = r.get("graph-hops")
    if not section:
        return []
    levels = sorted({run["concurrency"] for row in section["rows"] for run in row["runs"]})
    loaded = max(levels, default=1)
    k = section["local_hops"]
    out = [
        "## Graph hops: what one more unit on the path costs",
        "",
        "`oxserve run` serving graphs named `iris` (YAML written to `bench/out/work/graph-hops/`), "
        "V2 REST JSON, one row per request; every server process pinned to core 0. The base is a graph "
        f"whose only node is the iris model; the local chain puts {k} TRANSFORMER nodes, each running the "
        "ONNX `Identity` model in the same process, in front of it. The remote graphs' only node is a "
        "remote V2 unit: a second `oxserve serve` of iris (the *served directly* row), reached over REST "
        "or gRPC. *1 ÷ req/s* at concurrency 1 is the mean round trip, load generator included"
        + (
            f"; at c={loaded}, where the server core is busy, its CPU time per request."
            if loaded > 1
            else "."
        ),
        "",
        *_extra_table(section, levels),
    ]
    runs = _runs(section)

    def added(a: str, b: str, hops: int) -> str | None:
        """What `a` adds over `b`, per hop: p50 (bold) and round trip at c=1, CPU when loaded."""
        p50 = _difference(runs, a, b, "p50_us")
        if p50 is None:
            return None
        trip = _difference(runs, a, b, "per_request_us")  # measured with p50: same run
        cpu = _difference(runs, a, b, "per_request_us", loaded) if loaded != 1 else None
        text = f"**{p50 / hops:.1f} µs** of p50 (round trip {trip / hops:.1f} µs"
        return text + (f"; {cpu / hops:.1f} µs of CPU at c={loaded})" if cpu is not None else ")")

    lines = []
    if local := added("graph-local", "graph-0", k):
        lines.append(f"- Local hop: {local} each: (chain − base) ÷ {k}.")
    for transport, key in (("REST", "graph-remote-rest"), ("gRPC", "graph-remote-grpc")):
        if remote := added(key, "direct", 1):
            lines.append(f"- Remote hop over {transport}: {remote}: graph − served directly.")
    if base := added("graph-0", "direct", 1):
        lines.append(f"- The executor itself, a one-node graph against `oxserve serve` of the model: {base}.")
    executor = False
    for transport, key in (("REST", "seldon-executor-rest"), ("gRPC", "seldon-executor-grpc")):
        if theirs := added(key, "direct", 1):
            executor = True
            lines.append(f"- Seldon's executor (v1.18.2, V2) as the remote hop over {transport}: {theirs}.")
            ours = _difference(runs, f"graph-remote-{transport.lower()}", "direct", "p50_us")
            seldon = _difference(runs, key, "direct", "p50_us")
            if ours is not None and seldon:
                lines.append(f"  - oxserve's remote hop ÷ Seldon's: {ours / seldon:.2f} (p50 at c=1).")
    if not executor:
        lines.append(
            "- Seldon's orchestrator (its Go executor) was not measured: the Go module proxy does not serve "
            "seldon-core, so the harness cannot build it; set `SELDON_EXECUTOR` to a build of it "
            "(bench/README.md)."
        )
    return [*out, *lines, ""]


def summary(r: dict, rows: dict, order: list[str], labels: dict) -> list[str]:
    """req/s of every peer on its main REST protocol, per model and concurrency, on one table."""
    models, levels = r["settings"]["models"], r["settings"]["concurrency"]
    head = " | ".join(f"{m} c={c}" for m in models for c in levels)
    out = [
        "## Summary: requests/s over REST JSON, one row per request",
        "",
        "V2 REST JSON for every peer but the Seldon wrapper, which is measured with the Seldon "
        "ndarray JSON payload (oxserve's Seldon endpoint in brackets). Details, latencies and memory "
        "in the tables below.",
        "",
        f"| server | {head} |",
        "| --- |" + " ---: |" * (len(models) * len(levels)),
    ]
    for key in order:
        protocol = "Seldon REST JSON" if key == "seldon" else "V2 REST JSON"
        cells = []
        for m in models:
            for c in levels:
                runs = rows.get((key, m, protocol), {}).get("runs", [])
                run = next((x for x in runs if x["concurrency"] == c), {})
                cell = fmt(run.get("rps"), 0) if "rps" in run else "–"
                if key == "seldon":
                    base = rows.get(("oxserve", m, protocol), {}).get("runs", [])
                    ox = next((x for x in base if x["concurrency"] == c and "rps" in x), None)
                    cell += f" ({fmt(ox['rps'], 0)})" if ox else ""
                cells.append(cell)
        name = labels[key] + (" (Seldon JSON)" if key == "seldon" else "")
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    return [*out, ""]


OTHER_CPU_LIMIT = 10.0  # percent of a core taken by other processes before a row is marked


def busy_mark(run: dict) -> str:
    return " †" if run.get("other_cpu_pct", 0) > OTHER_CPU_LIMIT else ""


def other_load(r: dict) -> list[str]:
    """A paragraph on CPU time taken by processes outside the benchmark during the runs."""
    values = sorted(
        run["other_cpu_pct"] for row in r["rows"] for run in row["runs"] if "other_cpu_pct" in run
    )
    if not values:
        return []
    marked = sum(1 for v in values if v > OTHER_CPU_LIMIT)
    text = (
        f"Other load: during the {len(values)} measured runs, processes other than the server, the "
        f"load generator and the harness used a median {values[len(values) // 2]:.0f}% and at most "
        f"{values[-1]:.0f}% of a core on the two cores (column *other CPU %*; "
        f"{r.get('inprocess_other_cpu_pct', 0):.0f}% during the in-process timing)."
    )
    if marked:
        text += (
            f" {marked} runs are marked † (over {OTHER_CPU_LIMIT:.0f}%): something else was running "
            "(on a shared development machine, typically a build); their numbers are lower and "
            "noisier than on a quiet machine. Rerun `make bench` on an idle machine to publish."
        )
    return [text, ""]


def _one_line(text: str) -> str:
    return " ".join(text.split())[:300].replace("`", "'")
