"""``kazoe-collector`` — store counts from many nodes and serve the dashboard.

Every failure a user can cause is one line on stderr: exit 2 for a bad config
or bad arguments, 1 when the collector cannot start or fails.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from collector.config import CollectorSettings, ConfigInvalid, load_config
from collector.errors import CollectorConfigError
from edge import __version__
from edge.errors import KazoeError

log = logging.getLogger("kazoe.collector")

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s kazoe-collector %(levelname)s %(name)s: %(message)s",
        datefmt="%Y-%m-%dT%H:%M:%S",
        stream=sys.stderr,
    )
    logging.getLogger("kazoe.collector.mqtt.paho").setLevel(logging.WARNING)


def _load(path: Path) -> CollectorSettings | int:
    try:
        return load_config(path)
    except ConfigInvalid as exc:
        for key, value, reason in exc.rows:
            print(f"{path}: {key} = {value}: {reason}", file=sys.stderr)
        return EXIT_USAGE
    except CollectorConfigError as exc:
        print(f"kazoe-collector: {exc}", file=sys.stderr)
        return EXIT_USAGE


def cmd_check_config(args: argparse.Namespace) -> int:
    from collector.auth import Credentials

    path = Path(args.file)
    settings = _load(path)
    if isinstance(settings, int):
        return settings
    try:
        Credentials.from_config(settings.http)
        settings.mqtt.read_password()
    except CollectorConfigError as exc:
        print(f"{path}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    backend = "PostgreSQL" if settings.database.is_postgres else "SQLite"
    print(f"{path}: ok ({backend}, dashboard {settings.http.host}:{settings.http.port})")
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    from collector.service import Collector

    path = Path(args.config)
    settings = _load(path)
    if isinstance(settings, int):
        return settings
    try:
        collector = Collector(settings)
    except CollectorConfigError as exc:
        print(f"{path}: {exc}", file=sys.stderr)
        return EXIT_USAGE

    def on_signal(signum: int, frame: FrameType | None) -> None:
        collector.stop()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        sock = collector.bind()
        collector.start()
        collector.serve_http(sock)
    finally:
        collector.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    log.info("stopped")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kazoe-collector",
        description="Collect aggregate counts from Kazoe nodes, store them, serve the dashboard.",
    )
    parser.add_argument("--version", action="version", version=f"kazoe-collector {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check-config", help="validate a config file; exit 2 on errors")
    check.add_argument("file")
    check.set_defaults(func=cmd_check_config)
    serve = sub.add_parser("serve", help="run the collector and its dashboard")
    serve.add_argument("--config", required=True, help="TOML config file")
    serve.set_defaults(func=cmd_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    setup_logging(args.verbose)
    try:
        result: int = args.func(args)
    except KazoeError as exc:
        print(f"kazoe-collector: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        log.debug("internal error", exc_info=True)
        print(
            f"kazoe-collector: internal error: {type(exc).__name__}: {exc} "
            "(run with -v for details)",
            file=sys.stderr,
        )
        return EXIT_FAILED
    return result


if __name__ == "__main__":
    sys.exit(main())
