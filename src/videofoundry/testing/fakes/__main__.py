"""`python -m videofoundry.testing.fakes PROVIDER [--port N] [--key KEY] [...]`.

Serves one fake provider until interrupted. Point the adapter at it with e.g.
`RUNWAY_BASE_URL=http://127.0.0.1:N RUNWAY_API_KEY=<key>`. The key is printed at start.
"""

from __future__ import annotations

import argparse
import ipaddress
import sys

PROVIDERS = ("runway", "luma", "replicate", "stability")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m videofoundry.testing.fakes")
    parser.add_argument("provider", choices=PROVIDERS)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--key", help="accepted API key (default: a random one, printed)")
    parser.add_argument("--pending", type=float, default=0.2, help="seconds queued/pending")
    parser.add_argument("--running", type=float, default=1.0, help="seconds running")
    parser.add_argument("--concurrency", type=int, default=2, help="active tasks per key")
    parser.add_argument("--output-ttl", type=float, default=24 * 3600.0)
    parser.add_argument("--video-scale", type=float, default=1.0, help="1.0 = real pixel size")
    parser.add_argument("--wait-scale", type=float, default=1.0, help="Replicate Prefer: wait")
    parser.add_argument(
        "--allow-non-loopback", action="store_true", help="permit a --host that is not loopback"
    )
    args = parser.parse_args(argv)
    try:
        loopback = args.host == "localhost" or ipaddress.ip_address(args.host).is_loopback
    except ValueError:
        loopback = False
    if not loopback and not args.allow_non_loopback:
        parser.error("refusing a non-loopback --host without --allow-non-loopback")
    # Imported after argument checks: uvicorn and FastAPI take a while to import.
    from videofoundry.testing.fakes._server import FakeServer, new_key

    server = FakeServer(
        args.provider,
        host=args.host,
        port=args.port,
        key=args.key or new_key(args.provider),
        configure_logging=True,
        pending_seconds=args.pending,
        running_seconds=args.running,
        concurrency=args.concurrency,
        output_ttl=args.output_ttl,
        video_scale=args.video_scale,
        wait_scale=args.wait_scale,
    )
    print(  # noqa: T201 - the CLI's output
        f"fake {args.provider} on {server.base_url} (key {server.key}); "
        f"ledger at {server.base_url}/_fake/ledger",
        flush=True,
    )
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
