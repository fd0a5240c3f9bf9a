"""`python -m bench`: start every system, run every scenario, write the results.

Systems run one after another (never at once, they would share the two cores): the bare
`websockets` server first, which also calibrates the load client, then the tutorial-shaped
consumer, then the service. Results go to bench/results/latest.json and docs/performance.md.
"""

import argparse
import contextlib
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import report
from bench.client import LoadClient
from bench.dashboard import DashboardWatcher
from bench.scenarios import PHASES, Context, Scale, headline, log, run_phase
from bench.servers import (
    BASE_DIR,
    ServiceEnv,
    bench_database,
    migrate_and_populate,
    raise_open_files_limit,
    start_bare,
    start_service,
    start_tutorial,
    stored_messages,
)
from bench.soak import soak
from tests.services import ensure_postgres, ensure_redis

SYSTEMS = ["bare", "tutorial", "service"]


def machine() -> dict:
    import psutil

    cpu_model = "unknown"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model,
        "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "load_before": os.getloadavg(),
    }


def run(args: argparse.Namespace) -> dict:
    raise_open_files_limit()
    ensure_postgres_and_redis()
    scale = Scale.tiny() if args.tiny else Scale.full()
    if args.idle_seconds is not None:
        scale.idle_seconds = args.idle_seconds
    started = time.monotonic()
    results: dict = {
        "machine": machine(),
        "command": " ".join(["python -m bench", *sys.argv[1:]]),
        "server": args.server,
        "layer": args.layer,
        "tutorial_layer": args.tutorial_layer,
        "dashboard": args.dashboard,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "systems": {},
    }
    results["workers"] = args.workers
    results["history_messages"] = scale.history_messages
    client = LoadClient(workers=args.workers)
    log_dir = Path(tempfile.mkdtemp(prefix="bench-logs-"))
    try:
        with bench_database() as database_url:
            extra = {"CHANNEL_LAYER_BACKEND": args.layer} if args.layer else {}
            service = ServiceEnv(database_url=database_url, extra=extra)
            data = migrate_and_populate(
                service, scale.users(), scale.rooms(), scale.histories(), staff=args.dashboard
            )
            log(f"database ready: {scale.users()} users logged in")
            if args.soak is not None:
                server, room_ids = start_system("service", service, data, scale, log_dir, args)
                ctx = Context(server, client, room_ids, data["sessions"], scale)
                try:
                    results["soak"] = soak(
                        ctx, database_url, room_ids["r100"], args.soak, soak_rate(args)
                    )
                except Exception:
                    print(server.log(), file=sys.stderr)
                    raise
                finally:
                    server.stop()
                args.systems = []
            for system in args.systems:
                sent = 0
                log(f"{system} ...")
                outcome: dict = {}
                for phase in PHASES:
                    if args.only and not set(phase) & set(args.only):
                        continue
                    server, room_ids = start_system(system, service, data, scale, log_dir, args)
                    ctx = Context(server, client, room_ids, data["sessions"], scale, only=args.only)
                    watching = args.dashboard and system == "service"
                    try:
                        with dashboard_open(server, data, watching) as dashboard:
                            run_phase(ctx, phase, outcome)
                        if dashboard is not None:
                            outcome.setdefault("dashboard", []).append(dashboard.result())
                    except Exception:
                        print(server.log(), file=sys.stderr)
                        raise
                    finally:
                        server.stop()
                    sent += ctx.messages_sent
                outcome["headline"] = headline(outcome)
                if system == "service":
                    preloaded = [data["rooms"][name] for name in scale.histories()]
                    outcome["stored"] = stored_messages(database_url, preloaded)
                    outcome["sent"] = sent
                outcome["server_log_tail"] = server.log()[-1500:]
                results["systems"][system] = outcome
                log(f"{system}: headline {outcome['headline']}/s")
    finally:
        client.stop()
    results["machine"]["load_after"] = os.getloadavg()
    results["seconds"] = round(time.monotonic() - started, 1)
    return results


def start_system(system: str, service: ServiceEnv, data: dict, scale: Scale, log_dir: Path,
                 args: argparse.Namespace) -> tuple:  # fmt: skip
    if system == "service":
        return start_service(service, log_dir, server=args.server), data["rooms"]
    by_name = {name: name for name in scale.rooms()}
    if system == "tutorial":
        return start_tutorial(log_dir, layer=args.tutorial_layer), by_name
    return start_bare(log_dir), by_name


def dashboard_open(server, data: dict, watching: bool) -> contextlib.AbstractContextManager:
    """A staff dashboard socket open on the service for the phase (`--dashboard`), or nothing."""
    if not watching:
        return contextlib.nullcontext()
    return DashboardWatcher(server, data["staff_session"])


PERFORMANCE_DOC = BASE_DIR / "docs/performance.md"
# The service's row of the recorded headline table: "| service | 22018 | ...".
RECORDED_HEADLINE_ROW = re.compile(r"^\| service \| (\d+) \|", re.MULTILINE)


def recorded_headline(latest: Path = BASE_DIR / "bench/results/latest.json") -> int:
    """The service's headline: this machine's latest run (bench/results/latest.json, not in
    git) when it measured one, else the one recorded in docs/performance.md (a fresh clone).
    A run of other scenarios only (`--only idle`) has a headline of 0: a soak at the floor
    of 100 deliveries/s would measure nothing."""
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        headline = int(json.loads(latest.read_text())["systems"]["service"]["headline"])
        if headline > 0:
            return headline
    found = RECORDED_HEADLINE_ROW.search(PERFORMANCE_DOC.read_text())
    if found is None:
        raise SystemExit("no recorded headline: run `python -m bench` or pass --soak-rate")
    return int(found.group(1))


def soak_rate(args: argparse.Namespace) -> int:
    """Deliveries per second for the soak: `--soak-rate`, else half the latest headline."""
    if args.soak_rate:
        return args.soak_rate
    return max(100, recorded_headline() // 2)


def ensure_postgres_and_redis() -> None:
    ensure_postgres()
    ensure_redis()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--tiny", action="store_true", help="a few seconds, for the smoke test")
    parser.add_argument("--systems", nargs="+", default=SYSTEMS, choices=SYSTEMS)
    parser.add_argument("--server", default="daphne", choices=["daphne", "uvicorn"])
    parser.add_argument(
        "--layer",
        default="pubsub",
        choices=["", "core", "pubsub"],
        help="the service's channel layer ('' for the settings' default)",
    )
    parser.add_argument(
        "--tutorial-layer",
        default="core",
        choices=["core", "pubsub"],
        help="the tutorial's channel layer: its own RedisChannelLayer, or the service's pub/sub",
    )
    parser.add_argument(
        "--idle-seconds",
        type=float,
        default=None,
        help="time allowed for opening the idle sockets (default 10: a server that opens "
        "them slower is measured on what it holds; give it more to see 10,000 held)",
    )
    parser.add_argument(
        "--dashboard",
        action="store_true",
        help="hold a staff socket on /ws/dashboard/ open while the service is measured: the "
        "headline must stay within noise of a run without it",
    )
    parser.add_argument("--only", nargs="+", default=[], help="run only these scenarios")
    parser.add_argument("--workers", type=int, default=1, help="load client processes")
    parser.add_argument(
        "--soak",
        type=float,
        default=None,
        metavar="MINUTES",
        help="only the soak case (not in the default run): the service at half the headline "
        "rate, 5%% of the members reconnecting with ?since= every minute, typing and "
        "reactions mixed in; results to bench/results/soak.json and soak.md",
    )
    parser.add_argument(
        "--soak-rate", type=int, default=0, help="deliveries/s for --soak (default: half the "
        "service's headline in bench/results/latest.json)",
    )  # fmt: skip
    parser.add_argument("--json", type=Path, default=BASE_DIR / "bench/results/latest.json")
    parser.add_argument(
        "--markdown", type=Path, default=None, help="default: docs/performance.md unless --tiny"
    )
    args = parser.parse_args()
    if args.soak is not None:
        if args.json == BASE_DIR / "bench/results/latest.json":
            args.json = BASE_DIR / "bench/results/soak.json"
        args.markdown = args.markdown or BASE_DIR / "bench/results/soak.md"
    results = run(args)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1))
    print(report.summary(results))
    markdown = args.markdown or (None if args.tiny else BASE_DIR / "docs/performance.md")
    if markdown and "soak" in results:
        markdown.write_text("\n".join(["# Soak", "", *report.soak_lines(results["soak"]), ""]))
    elif markdown:
        report.write(results, markdown)
        print(f"[bench] wrote {markdown}", file=sys.stderr)
    subprocess.run(["uptime"], check=False)


if __name__ == "__main__":
    main()
