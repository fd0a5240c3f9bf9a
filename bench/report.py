"""Results as text: a summary for the terminal; docs/performance.md and its plot."""

from pathlib import Path


def fmt(value, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def ramp_table(rows: list[dict]) -> list[str]:
    lines = [
        "| target/s | delivered/s | loss | p50 ms | p99 ms | max ms | CPU s/1k "
        "| server CPU | client CPU | ok |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    for r in rows:
        loss = str(r["loss"]) + (f" (+{r['duplicates']} dup)" if r["duplicates"] else "")
        if r["errors"]:
            loss += f" errors {r['errors']}"
        lines.append(
            f"| {r['target']} | {r['deliveries_per_second']} | {loss} | {fmt(r['p50_ms'])} "
            f"| {fmt(r['p99_ms'])} | {fmt(r['max_ms'])} | {fmt(r['cpu_per_1000'], 3)} "
            f"| {r['server_cpu_share']:.0%} | {r['client_cpu_share']:.0%} "
            f"| {'yes' if r['ok'] else 'no'} |"
        )
    return lines


def summary(results: dict) -> str:
    lines = []
    for system, outcome in results["systems"].items():
        lines.append(f"== {system}: headline {outcome['headline']} deliveries/s")
        for row in outcome.get("idle", []):
            lines.append(f"  idle {row}")
        for storm in ("storm", "storm_history", "storm_tabs"):
            if storm in outcome:
                lines.append(f"  {storm} {outcome[storm]}")
        for scenario in SCENARIOS:
            if scenario in outcome:
                lines.append(f"  {scenario}")
                lines.extend("    " + line for line in ramp_table(outcome[scenario])[2:])
        for phase, watched in enumerate(outcome.get("dashboard", []), start=1):
            lines.append(f"  dashboard open during phase {phase}: {watched}")
        if "stored" in outcome:
            lines.append(f"  stored {outcome['stored']} of {outcome['sent']} sent")
    if "soak" in results:
        lines += report_soak_summary(results["soak"])
    lines.append(f"total {results['seconds']} s, load {results['machine']['load_after']}")
    return "\n".join(lines)


SCENARIOS = {
    "room100": "100-member room, rising rates (100 senders, evenly spread)",
    "sidebars": "100-member room, each member's room list open too (`/ws/rooms/`, as in a browser"
    " tab; the deliveries counted are the room's)",
    "room1000": "1,000-member room (100 of the members send)",
    "pairs": "many 2-member rooms (both members send)",
}


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (latency, delivered) = plt.subplots(1, 2, figsize=(11, 4.2))
    for system, outcome in results["systems"].items():
        rows = outcome.get("room100", [])
        if not rows:
            continue
        targets = [r["target"] for r in rows]
        (line,) = latency.plot(
            targets, [r["p99_ms"] for r in rows], marker="o", label=f"{system} p99"
        )
        latency.plot(targets, [r["p50_ms"] for r in rows], linestyle="--", color=line.get_color(),
                     label=f"{system} p50")  # fmt: skip
        delivered.plot(targets, [r["deliveries_per_second"] for r in rows], marker="o",
                       color=line.get_color(), label=system)  # fmt: skip
        lossy = [r for r in rows if r["loss"]]
        delivered.scatter([r["target"] for r in lossy], [r["deliveries_per_second"] for r in lossy],
                          marker="x", s=80, color="red")  # fmt: skip
    latency.axhline(200, color="grey", linewidth=0.8)
    latency.set_yscale("log")
    latency.set_xlabel("offered deliveries/s")
    latency.set_ylabel("latency, ms (log)")
    latency.set_title("100-member room: latency")
    latency.legend(fontsize=7)
    delivered.plot([0, max(results_targets(results))], [0, max(results_targets(results))],
                   color="grey", linewidth=0.8)  # fmt: skip
    delivered.set_xlabel("offered deliveries/s")
    delivered.set_ylabel("delivered/s (x: loss)")
    delivered.set_title("100-member room: throughput")
    delivered.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def results_targets(results: dict) -> list[int]:
    return [r["target"] for o in results["systems"].values() for r in o.get("room100", [])] or [1]


def write(results: dict, path: Path, notes: str = "") -> None:
    """The measured part of docs/performance.md, between the markers; the prose around it
    (what each change bought) is kept as written."""
    machine = results["machine"]
    plot_path = path.parent / "performance-room100.png"
    plot(results, plot_path)
    lines = [
        f"Recorded {results['date']} with `{results['command']}` "
        f"({results['seconds']} s; service on {results['server']}, "
        f"channel layer `{results['layer'] or 'settings default'}`; tutorial on "
        f"`{results.get('tutorial_layer', 'core')}`).",
        "",
        f"Machine: {machine['cpus']} cores ({machine['cpu_model']}), {machine['ram_gb']} GB RAM, "
        f"Python {machine['python']}, Linux {machine['kernel']}. Load average (1/5/15 min) "
        f"before {fmt_load(machine['load_before'])}, after {fmt_load(machine['load_after'])}: "
        "the machine was shared with other jobs, so the numbers are noisy.",
        "",
        "### Headline: highest delivery rate in the 100-member room, zero loss, p99 < 200 ms",
        "",
        *headline_table(results),
    ]
    service = results["systems"].get("service")
    if service and "stored" in service:
        lines += ["", f"Messages sent to the service: {service['sent']}; "
                  f"stored in PostgreSQL: {service['stored']}."]  # fmt: skip
    lines += ["", f"![100-member room]({plot_path.name})", ""]
    for scenario, title in SCENARIOS.items():
        if not any(scenario in o for o in results["systems"].values()):
            continue
        lines += [f"### {title}", ""]
        for system, outcome in results["systems"].items():
            if scenario in outcome:
                lines += [f"**{system}**", "", *ramp_table(outcome[scenario]), ""]
    lines += [
        "### Connect storm (every client at once) and idle memory per socket",
        "",
        "| system | storm clients | opened | refused | seconds | idle sockets held "
        "| RSS MB | KB per socket |",
        "|---|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    for system, outcome in results["systems"].items():
        storm = outcome.get("storm", {})
        for i, idle in enumerate(outcome.get("idle", [])):
            storm_cells = (
                f"{storm.get('clients', '-')} | {storm.get('opened', '-')} | "
                f"{refused_text(storm.get('refused'))} | {storm.get('seconds', '-')}"
                if i == 0 else " | | | "
            )  # fmt: skip
            lines.append(
                f"| {system} | {storm_cells} | {idle['opened']} of {idle['sockets']} "
                f"({refused_text(idle['refused'])}, {idle['connect_seconds']} s) "
                f"| {idle['rss_mb']} | {fmt(idle['kb_per_socket'])} |"
            )
    lines += storm_history_lines(results)
    measured = "\n".join(lines)
    text = path.read_text() if path.exists() else TEMPLATE
    start, end = "<!-- measured:start -->", "<!-- measured:end -->"
    before, _, rest = text.partition(start)
    _, _, after = rest.partition(end)
    path.write_text(f"{before}{start}\n{measured}\n{end}{after}")


def storm_history_lines(results: dict) -> list[str]:
    """The storm again, into rooms that hold a history and as browser tabs (the service
    only: the baselines keep no history and have no room lists), beside the service's
    storm into empty rooms."""
    service = results["systems"].get("service", {})
    storm, history = service.get("storm"), service.get("storm_history")
    tabs = service.get("storm_tabs")
    if not history and not tabs:
        return []
    lines = [
        "",
        "**The storm into rooms with a history, and as browser tabs** (the service; each "
        f"room holds {results.get('history_messages', '?')} messages, so every opening sends "
        "a full page; a tab opens its room socket and its room list, `/ws/rooms/`):",
        "",
        "| storm | clients | sockets opened | refused | seconds | server CPU s |",
        "|---|---|---|---|---|---|",
    ]
    rows = (
        ("empty rooms", storm),
        ("rooms with a history", history),
        ("tabs, rooms with a history", tabs),
    )
    for name, row in rows:
        if row:
            lines.append(
                f"| {name} | {row['clients']} | {row['opened']} | {refused_text(row['refused'])} "
                f"| {row['seconds']} | {row['server_cpu_seconds']} |"
            )
    return lines


CPU_COLUMNS = (1000, 4000, 10000, 20000, 30000)  # offered rates shown, when every system ran them


def limit_of(rows: list[dict], workers: int) -> str:
    """What stopped a ramp, read off its first failed step: the server's core, the load
    client's processes, or neither (latency or loss with CPU to spare)."""
    failed = [r for r in rows if not r["ok"]]
    if not failed:
        return "not reached"
    first = failed[0]
    if first["client_cpu_share"] >= 0.9 * workers:
        return f"load client ({first['client_cpu_share']:.0%} of {workers} core(s))"
    if first["server_cpu_share"] >= 0.9:
        return f"server CPU ({first['server_cpu_share']:.0%})"
    return "latency/loss, CPU to spare"


def headline_table(results: dict) -> list[str]:
    """Each system's maximum, what limited it, and its server CPU per 1,000 deliveries at the
    same offered rates (passed or not: a failed step's CPU is still what the work cost), with
    the service's ratio to the bare server under both."""
    systems = results["systems"]
    workers = results.get("workers", 1)
    by_rate = {
        system: {r["target"]: r for r in outcome.get("room100", [])}
        for system, outcome in systems.items()
    }
    rates = [rate for rate in CPU_COLUMNS if all(rate in rows for rows in by_rate.values())]
    lines = [
        "| system | max deliveries/s | limit | "
        + " | ".join(f"CPU s/1k at {rate:,}/s" for rate in rates)
        + " |",
        "|---|---|---|" + "---|" * len(rates),
    ]
    for system, outcome in systems.items():
        cells = [fmt(by_rate[system][rate]["cpu_per_1000"], 3) for rate in rates]
        lines.append(
            f"| {system} | {outcome['headline']} | {limit_of(outcome.get('room100', []), workers)} "
            f"| " + " | ".join(cells) + " |"
        )
    bare, service = systems.get("bare"), systems.get("service")
    if bare and service and bare["headline"]:
        ratios = []
        for rate in rates:
            b, s = by_rate["bare"][rate]["cpu_per_1000"], by_rate["service"][rate]["cpu_per_1000"]
            ratios.append(f"{s / b:.1f}x" if b and s else "-")
        lines.append(
            f"| service / bare | {service['headline'] / bare['headline']:.2f} | "
            + " | "
            + " | ".join(ratios)
            + " |"
        )
    tutorial = systems.get("tutorial")
    if tutorial and tutorial["headline"] and service:
        lines += ["", f"The service delivers {service['headline'] / tutorial['headline']:.1f}x "
                  "the tutorial's maximum."]  # fmt: skip
    return lines


def report_soak_summary(soak: dict) -> list[str]:
    return [f"== soak: {soak}"]


def soak_lines(soak: dict) -> list[str]:
    """The soak case's result (`python -m bench --soak MINUTES`)."""
    return [
        f"Soak of {soak['minutes']} min at {soak['deliveries_per_second']} deliveries/s "
        f"({soak['messages_per_second']} messages/s in a room of {soak['members']}), "
        f"{soak['reconnects']} reconnects with `?since=`, {soak['typing']} typing and "
        f"{soak['reactions']} reaction frames; {soak['drain_seconds']} s for the server to "
        "catch up with what it was sent (0-3 s: it kept up).",
        "",
        "| check | result |",
        "|---|---|",
        f"| server RSS after the first minute / at the end | {soak['rss_mb_first_minute']} MB / "
        f"{soak['rss_mb_end']} MB |",
        f"| error frames | {soak['error_frames']} |",
        f"| closes 1011 (and other unasked closes) | {soak['closes_1011']} "
        f"({soak['other_closes']}) |",
        f"| messages sent / stored / stored more than once | {soak['sent']} / {soak['stored']} / "
        f"{soak['stored_twice']} |",
        f"| acknowledged but not stored | {soak['acked_not_stored']} |",
        f"| (client, message) pairs neither delivered nor caught up | {soak['missed']} |",
    ]


def fmt_load(load) -> str:
    return "/".join(f"{x:.1f}" for x in load)


def refused_text(refused) -> str:
    if not refused:
        return "none refused"
    return ", ".join(f"{count} {name}" for name, count in refused.items())


TEMPLATE = """# Performance

<!-- measured:start -->
<!-- measured:end -->
"""
