"""`sgguard serve`: run the iSCSI target over the configured slices.

Owns the command line of the server: `--config FILE` (TOML, see
`sgguard.config`), `--data-dir DIR` (default `$XDG_DATA_HOME/sgguard` or
`~/.local/share/sgguard`), `--portal HOST:PORT` (repeatable; overrides the
configured portals), `--json-logs`, `--metrics HOST:PORT`. Without `--config`
it serves the embedded default: a sparse 1 GiB image with two GPT partitions
in the data folder (created once), each partition LUN 0 of its own target.
SIGINT/SIGTERM: stop accepting, ask initiators to log out, let commands in
flight finish (10 s at most), flush, exit 0.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sgguard.errors import InputError, UsageError

__all__ = ["register", "run"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "serve",
        help="serve confined slices as iSCSI targets",
        description="Serve slices of shared disks as iSCSI targets (RFC 7143). Without "
        "--config: creates (once) DATA_DIR/disk0.img (sparse 1 GiB, GPT with two "
        "partitions) and serves each partition as LUN 0 of its own target.",
    )
    p.add_argument("--config", metavar="FILE", help="TOML configuration (see sgguard.config)")
    p.add_argument(
        "--data-dir",
        metavar="DIR",
        help="state folder (default: $XDG_DATA_HOME/sgguard or ~/.local/share/sgguard)",
    )
    p.add_argument(
        "--portal",
        action="append",
        metavar="HOST:PORT",
        help="listen address (repeatable; default 127.0.0.1:3260 or the config's portals)",
    )
    p.add_argument("--json-logs", action="store_true", help="log one JSON object per line")
    p.add_argument("--metrics", metavar="HOST:PORT", help="serve Prometheus metrics here")
    p.add_argument(
        "--drain-timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="on SIGINT/SIGTERM, wait this long for commands in flight (default 10)",
    )
    p.set_defaults(func=run)


def _setup_logging(json_logs: bool) -> None:
    import logging

    from sgguard.iscsi.server import JsonFormatter

    handler = logging.StreamHandler(sys.stderr)
    if json_logs:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    root = logging.getLogger("sgguard")
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    root.propagate = False


def run(args: argparse.Namespace) -> int:
    import asyncio
    import logging
    import signal
    from pathlib import Path

    from sgguard import config as cfg
    from sgguard.iscsi.metrics import ServerMetrics
    from sgguard.iscsi.server import IscsiServer, ServerLimits, parse_address

    _setup_logging(args.json_logs)
    log = logging.getLogger("sgguard.iscsi")
    data_dir = Path(args.data_dir).expanduser() if args.data_dir else None
    portals_arg: list[str] = args.portal or []
    for p in portals_arg:
        try:
            parse_address(p)
        except ValueError as exc:
            raise UsageError(f"--portal: {exc}") from None
    created = False
    if args.config:
        config = cfg.load_config(args.config)
        if portals_arg:
            config = cfg.Config(
                server=cfg.ServerConfig(
                    portals=tuple(portals_arg),
                    data_dir=config.server.data_dir,
                    max_connections=config.server.max_connections,
                    queue_depth=config.server.queue_depth,
                    login_timeout=config.server.login_timeout,
                    nop_interval=config.server.nop_interval,
                    nop_timeout=config.server.nop_timeout,
                    workers=config.server.workers,
                    metrics=config.server.metrics,
                    inline_writes=config.server.inline_writes,
                ),
                backings=config.backings,
                slices=config.slices,
                targets=config.targets,
                discovery_initiators=config.discovery_initiators,
                discovery_chap=config.discovery_chap,
                source=config.source,
            )
    else:
        data_dir = data_dir or cfg.default_data_dir()
        _image, created = cfg.ensure_default_image(data_dir)
        config = cfg.default_config(data_dir, portals_arg[0] if portals_arg else cfg.DEFAULT_PORTAL)
    metrics_addr = args.metrics or config.server.metrics
    refusal_log = logging.getLogger("sgguard.refusal")

    metrics = ServerMetrics()

    def on_refusal(rec: Any) -> None:
        metrics.refused.labels(str(rec.target).split(",")[0], str(rec.lun)).inc()
        refusal_log.warning(
            rec.message(),
            extra={
                "fields": {
                    "event": "refused",
                    "initiator": rec.initiator,
                    "target": rec.target,
                    "lun": rec.lun,
                    "command": rec.command,
                    "opcode": rec.opcode,
                    "rule": rec.rule,
                }
            },
        )

    built = cfg.build_portal_group(
        config, refusal_log=on_refusal, data_dir=str(data_dir) if data_dir else None
    )
    if metrics_addr:
        try:
            host, port = parse_address(metrics_addr, 9100)
            bound = metrics.serve(host, port)
        except (ValueError, OSError) as exc:
            built.close()
            raise InputError(f"metrics endpoint {metrics_addr}: {exc}") from None
        log.info("metrics on http://%s:%d/metrics", *bound)
    server = IscsiServer(
        built.group,
        [parse_address(p) for p in config.server.portals],
        limits=ServerLimits(
            max_connections=config.server.max_connections,
            workers=config.server.workers,
            drain_timeout=args.drain_timeout,
            inline_writes=config.server.inline_writes,
        ),
        metrics=metrics,
    )

    async def main() -> None:
        try:
            addresses = await server.start()
        except OSError as exc:
            raise InputError(
                f"cannot listen on {', '.join(config.server.portals)}: {exc.strerror or exc}"
            ) from None
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        _announce(config, built.descriptions, addresses, data_dir, created)
        await stop.wait()
        log.info("shutting down", extra={"fields": {"event": "shutdown"}})
        await server.shutdown(args.drain_timeout)

    try:
        asyncio.run(main())
    finally:
        metrics.close()
        built.close()
    return 0


def _announce(
    config: Any,
    descriptions: dict[str, str],
    addresses: list[tuple[str, int]],
    data_dir: Any,
    created: bool,
) -> None:
    host, port = addresses[0]
    if data_dir is not None and config.source == "<embedded default>":
        state = "created" if created else "using"
        print(
            f"sgguard: {state} data folder {data_dir} (image disk0.img, 1 GiB sparse, GPT part1/part2)"
        )
    print(f"sgguard: listening on {', '.join(f'{h}:{p}' for h, p in addresses)}")
    for t in config.targets:
        for ln in t.luns:
            print(
                f"  target {t.name} lun {ln.lun}: slice {ln.slice} = {descriptions.get(ln.slice, '')}"
            )
    first = config.targets[0]
    url = f"iscsi://{host}:{port}/{first.name}/{first.luns[0].lun}"
    print("examples:")
    print(f"  iscsi-ls -s iscsi://{host}:{port}")
    print(f"  iscsi-inq {url}")
    print(
        "  qemu-system-x86_64 -accel tcg -m 512 -device virtio-scsi-pci,id=scsi0 "
        f"-drive file={url},format=raw,if=none,id=d0 -device scsi-block,drive=d0,bus=scsi0.0 ..."
    )
    sys.stdout.flush()
