"""`eth-assets serve`: the address page and JSON API on uvicorn."""

from __future__ import annotations

import argparse
from pathlib import Path

from eth_assets import settings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="eth-assets", description="eth_assets commands")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the address page and the JSON API")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--data-dir", default=None, help="runtime data folder (default: ETH_ASSETS_DATA_DIR)"
    )
    serve.add_argument("--batch-limit", type=int, default=100, help="addresses per batch")
    serve.add_argument(
        "--report-burst", type=int, default=10, help="reports a client may send at once"
    )
    serve.add_argument(
        "--reports-per-minute",
        type=float,
        default=1.0,
        help="reports a client may send a minute after its burst",
    )
    serve.add_argument(
        "--reports-max-mib",
        type=float,
        default=32.0,
        help="cap of the reports file; reports are refused (507) once it is reached",
    )
    args = parser.parse_args(argv)
    import uvicorn

    from eth_assets.serve.app import ServeSettings, create_app

    data = Path(args.data_dir).resolve() if args.data_dir else settings.data_dir()
    app = create_app(
        ServeSettings(
            published=data / "published" / "address_scores",
            reports=data / "reports",
            batch_limit=args.batch_limit,
            report_burst=args.report_burst,
            reports_per_minute=args.reports_per_minute,
            reports_max_bytes=int(args.reports_max_mib * 1024 * 1024),
            dagster_url=settings.dagster_ui_url(),
            mlflow_url=settings.mlflow_ui_url(),
        )
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()
