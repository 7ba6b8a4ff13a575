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
        f"| oxserve | {m['oxserve']} (commit {m['oxserve_commit']}"
        f"{', with uncommitted changes in crates/' if m['oxserve_dirty'] else ''}), release build, "
        f"onnxruntime {m['onnxruntime_oxserve']} |",
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
    out += ["", "## The limit: onnxruntime in-process", ""]
    if r.get("inprocess"):
        out += [
            "`InferenceSession.run` on the same ONNX file, one intra-op thread, pinned to core 0, "
            "every call timed in a tight Python loop (no server, no protocol).",
            "",
            "| model | rows per call | calls | p50 µs/call | p99 µs/call | µs per row | rows/s |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for x in r["inprocess"]:
            out.append(
                f"| {x['model']} | {x['batch']} | {fmt(x['calls'])} | {fmt(x['p50_us'])} | "
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
                "| server CPU % | other CPU % | mean batch | req/s ÷ oxserve |",
                "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
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
                        out.append(f"| {labels[key]} | {c} | – | – | – | {failure} | – | – | – | – | – | – |")
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
                        f"{fmt(run.get('mean_batch'))} | {ratio} |"
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

    problems = [(k, e) for k in order for e in r["peers"][k]["errors"]]
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
