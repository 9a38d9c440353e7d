"""``kazoe`` — check a config, run a node, watch counts.

Every failure a user can cause is one line on stderr and a non-zero exit code:
2 for a bad config or bad arguments, 1 for a missing file or a failed run.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from edge import __version__
from edge.config import ConfigInvalid, NodeSettings, load_config
from edge.errors import ConfigError, KazoeError

log = logging.getLogger("kazoe")

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s kazoe %(levelname)s %(name)s: %(message)s",
        datefmt="%Y-%m-%dT%H:%M:%S",
        stream=sys.stderr,
    )
    logging.getLogger("kazoe.mqtt.paho").setLevel(logging.WARNING)


def cmd_check_config(args: argparse.Namespace) -> int:
    from edge.privacy.policy import check_purpose_coverage

    path = Path(args.file)
    settings = _load(path)
    if isinstance(settings, int):
        return settings
    try:
        check_purpose_coverage(settings)
    except ConfigError as exc:
        print(f"kazoe: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"{path}: ok (node {settings.node.id}, purposes {', '.join(settings.policy.purposes)})")
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from edge.runner import RunOptions, run_node

    settings = _load(Path(args.config))
    if isinstance(settings, int):
        return settings
    options = RunOptions(
        source=args.source,
        once=args.once,
        realtime=args.realtime,
        loop=args.loop,
        ack_timeout_s=args.ack_timeout,
    )
    return run_node(settings, options, install_signals=True)


def _load(path: Path) -> NodeSettings | int:
    """The config, or the exit code after printing what is wrong with it."""
    try:
        return load_config(path)
    except ConfigInvalid as exc:
        for key, value, reason in exc.rows:
            print(f"{path}: {key} = {value}: {reason}", file=sys.stderr)
        return EXIT_USAGE
    except ConfigError as exc:
        print(f"kazoe: {exc}", file=sys.stderr)
        return EXIT_USAGE


def cmd_notice(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from edge.privacy.notice import build_notice, render_html, render_markdown

    settings = _load(Path(args.config))
    if isinstance(settings, int):
        return settings
    from edge.privacy.shares import resolve_intervals
    from edge.vision.models_info import model_ids

    models = model_ids(
        settings.models.dir,
        settings.detector.model,
        settings.policy.demographics,
        settings.attributes,
    )
    notice = build_notice(settings, datetime.now(tz=UTC), resolve_intervals(settings, models))
    if args.format == "json":
        text = notice.model_dump_json(by_alias=True, indent=2) + "\n"
    elif args.format == "md":
        text = render_markdown(notice)
    else:
        text = render_html(notice)
    if args.out is None:
        sys.stdout.write(text)
    else:
        try:
            Path(args.out).write_text(text, encoding="utf-8")
        except OSError as exc:
            print(f"kazoe: cannot write {args.out}: {exc.strerror}", file=sys.stderr)
            return EXIT_FAILED
        print(f"wrote {args.out}")
    return EXIT_OK


def cmd_calibrate(args: argparse.Namespace) -> int:
    from edge.ops.calibrate import calibrate

    settings = _load(Path(args.config))
    if isinstance(settings, int):
        return settings
    if args.faces is not None:
        summary = calibrate(
            settings, Path(args.faces), Path(args.out), args.name, min_people=args.min_people
        )
    else:
        from edge.ops.recording import calibrate_recordings

        summary = calibrate_recordings(
            settings,
            [Path(p) for p in args.recording],
            Path(args.out),
            args.name,
            within_s=args.match_s,
            min_people=args.min_people,
        )
    print(summary)
    return EXIT_OK


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from edge.privacy.audit import verify

    verdict = verify(Path(args.state_dir))
    print(verdict.message, file=sys.stdout if verdict.ok else sys.stderr)
    return EXIT_OK if verdict.ok else EXIT_FAILED


def cmd_frame_setup(args: argparse.Namespace) -> int:
    from edge.ops.frame_setup import serve

    settings = _load(Path(args.config))
    if isinstance(settings, int):
        return settings
    if args.source is not None:
        source = settings.source.model_copy(update={"uri": args.source})
        settings = settings.model_copy(update={"source": source})
    return serve(settings, args.port)


def cmd_watch(argv: list[str]) -> int:
    from edge.ops.watch import watch_main

    return watch_main(argv)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not at least 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kazoe", description="Privacy-preserving people counting node (aggregates only)."
    )
    parser.add_argument("--version", action="version", version=f"kazoe {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    check = sub.add_parser("check-config", help="validate a config file; exit 2 on errors")
    check.add_argument("file")
    check.set_defaults(func=cmd_check_config)

    run = sub.add_parser("run", help="run the node")
    run.add_argument("--config", required=True, help="TOML config file")
    run.add_argument("--source", help="override [source] uri (file, rtsp:// URL or device index)")
    run.add_argument(
        "--once",
        action="store_true",
        help="run a file source to its end, publish the last partial window, wait for PUBACK, exit",
    )
    run.add_argument("--realtime", action="store_true", default=None, help="pace a file to its fps")
    run.add_argument("--loop", action="store_true", default=None, help="repeat a file source")
    run.add_argument(
        "--ack-timeout",
        type=float,
        default=60.0,
        help="with --once or on SIGINT/SIGTERM: seconds to wait for PUBACKs",
    )
    run.set_defaults(func=cmd_run)

    notice = sub.add_parser("notice", help="render the privacy notice from a config")
    notice.add_argument("config")
    notice.add_argument("--format", choices=["html", "md", "json"], default="html")
    notice.add_argument("--out", help="write to this file instead of standard output")
    notice.set_defaults(func=cmd_notice)

    setup = sub.add_parser(
        "frame-setup",
        help="draw counting lines and privacy masks on one frame (page on 127.0.0.1 only)",
    )
    setup.add_argument("--config", required=True, help="TOML config file (its [source])")
    setup.add_argument("--source", help="override [source] uri")
    setup.add_argument("--port", type=int, default=8765, help="loopback port (0: any free one)")
    setup.set_defaults(func=cmd_frame_setup)

    cal = sub.add_parser(
        "calibrate",
        help="measure the attribute models' errors on labelled local photos or recordings "
        "(numbers only)",
    )
    cal.add_argument("--config", required=True, help="the node's TOML config (its models)")
    labelled = cal.add_mutually_exclusive_group(required=True)
    labelled.add_argument(
        "--faces",
        help="folder of face photos with labels.csv (file,age,gender) or ground_truth.json",
    )
    labelled.add_argument(
        "--recording",
        action="append",
        metavar="DIR",
        help="folder with one video and people.csv (exit_s,gender,age), or a folder of such "
        "folders; repeatable. Measured per person through the node's tracker",
    )
    cal.add_argument("--out", required=True, help="calibration JSON to write")
    cal.add_argument("--name", default="site", help="calibration name (default: site)")
    cal.add_argument(
        "--match-s",
        type=float,
        default=0.5,
        help="--recording: a track ending at most this many seconds from a labelled exit_s "
        "(after the median lag is removed) is that person (default: 0.5)",
    )
    cal.add_argument(
        "--min-people",
        type=_positive_int,
        default=30,
        help="refuse to write a calibration with fewer women or men estimated (default: 30)",
    )
    cal.set_defaults(func=cmd_calibrate)

    audit = sub.add_parser("audit", help="the node's tamper-evident audit log")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_sub.add_parser("verify", help="check the hash chain; names the first bad line")
    verify.add_argument("state_dir", nargs="?", default="state")
    verify.set_defaults(func=cmd_audit_verify)

    watch = sub.add_parser("watch", help="live table of counts and status per node", add_help=False)
    watch.set_defaults(func=None)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    # `watch` owns its own flags; hand everything after it over unparsed.
    if "watch" in args_list:
        at = args_list.index("watch")
        if all(a.startswith("-") for a in args_list[:at]):
            setup_logging("-v" in args_list[:at] or "--verbose" in args_list[:at])
            return cmd_watch(args_list[at + 1 :])
    parser = build_parser()
    args = parser.parse_args(args_list)
    setup_logging(args.verbose)
    try:
        result: int = args.func(args)
    except KazoeError as exc:
        print(f"kazoe: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        log.debug("internal error", exc_info=True)
        print(
            f"kazoe: internal error: {type(exc).__name__}: {exc} (run with -v for details)",
            file=sys.stderr,
        )
        return EXIT_FAILED
    return result


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.exit(main())
