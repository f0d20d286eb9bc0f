"""The address page and JSON API (FastAPI), answering from the published score snapshot.

Every answer comes from one snapshot object; input is validated before anything is looked up
(400 naming the problem, never FastAPI's default 422); an address that is not in the snapshot
gets 404 saying why, never a clean score. Nothing here builds SQL.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field

from eth_assets.addresses import address_problem, to_checksum_address
from eth_assets.serve.reports import ReportStore
from eth_assets.serve.snapshot import Snapshot, SnapshotSource

MAX_BODY_BYTES = 64 * 1024
ERRORS = {400: {"description": "Malformed input: the message names the problem"}}


@dataclass(frozen=True)
class ServeSettings:
    """Where the app reads and writes, and where its links point."""

    published: Path  # the folder of address_scores snapshots
    reports: Path  # the folder of the reports file
    batch_limit: int = 100
    dagster_url: str = "http://127.0.0.1:3000"
    mlflow_url: str = "http://127.0.0.1:5000"


class BadInput(ValueError):
    """Input the API refuses with 400."""


def check_address(text: object) -> str:
    """The stored lower-case form of `text`, or BadInput naming what is wrong with it."""
    problem = address_problem(text)
    if problem is None:
        return str(text).strip().lower()
    shown = repr(text)[:80]
    if problem == "EIP-55 checksum mismatch":
        problem += f"; the checksummed form is {to_checksum_address(str(text).strip().lower())}"
    raise BadInput(f"{shown} is not an Ethereum address: {problem}")


def _number(value: object) -> float | None:
    return None if value is None else float(value)


def answer(snapshot: Snapshot, address: str, settings: ServeSettings) -> dict[str, object]:
    """The full answer for a scored address (probability, band, reasons, profile, lists)."""
    row = snapshot.get(address)
    assert row is not None
    manifest = snapshot.manifest
    run_id = str(manifest.get("dagster_run_id", ""))
    model = str(row.get("model") or manifest.get("model", ""))
    name, _, version = model.partition(" v")
    return {
        "address": address,
        "as_of": manifest.get("as_of"),
        "model": model,
        "snapshot": snapshot.name,
        "has_activity": bool(row["has_activity"]),
        "illicit": {
            "probability": _number(row["probability"]),
            "threshold": _number(row["threshold"]),
            "flagged": bool(row["is_flagged"]),
            "band": row["band"],
            "bands": manifest.get("bands"),
            "reasons": list(row["reasons"] or []),
            "reason_features": list(row["reason_features"] or []),
        },
        "profile": {
            "id": row["profile_id"],
            "name": row["profile_name"],
            "defined_by": row.get("profile_sets_apart"),
            "values": json.loads(row["profile_values"]) if row.get("profile_values") else {},
        },
        "label_lists": list(row.get("label_hits") or []),
        "links": {
            "dagster_asset": f"{settings.dagster_url}/assets/address_scores",
            "dagster_run": f"{settings.dagster_url}/runs/{run_id}" if run_id else None,
            "mlflow_model": f"{settings.mlflow_url}/#/models/{name}/versions/{version}"
            if version.isdigit()
            else None,
        },
    }


def not_scored(snapshot: Snapshot, address: str) -> dict[str, object]:
    as_of = snapshot.manifest.get("as_of")
    return {
        "address": address,
        "error": f"no score for {address}: its history is not in the store as of {as_of} "
        "(only addresses of the scored universe are answered; an unknown address is never "
        "reported as clean)",
    }


class BatchRequest(BaseModel):
    addresses: list[str] = Field(description="Addresses, any case (EIP-55 checked).")


class ReportRequest(BaseModel):
    address: str
    claimed_label: Literal["illicit", "normal"]
    text: str = Field("", max_length=2000)


def create_app(settings: ServeSettings) -> FastAPI:
    """The app over `settings.published`; reports go to `settings.reports`."""
    app = FastAPI(
        title="eth_assets address scores",
        description="Investor profile and illicit-account risk of an Ethereum address.",
        version="1",
    )
    snapshots = SnapshotSource(settings.published)
    reports = ReportStore(settings.reports)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in error.errors()
        )
        return JSONResponse(status_code=400, content={"error": f"malformed request: {problems}"})

    @app.exception_handler(BadInput)
    async def bad_input(request: Request, error: BadInput) -> JSONResponse:
        return JSONResponse(status_code=400, content={"error": str(error)})

    @app.middleware("http")
    async def limit_body(request: Request, call_next):
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > MAX_BODY_BYTES:
            return JSONResponse(
                status_code=400,
                content={"error": f"request body of {length} bytes is over {MAX_BODY_BYTES}"},
            )
        return await call_next(request)

    @app.get("/healthz")
    def healthz() -> dict[str, object]:
        snapshot = snapshots.current()
        return {
            "status": "ok",
            "model": snapshot.manifest.get("model"),
            "as_of": snapshot.manifest.get("as_of"),
            "snapshot": snapshot.name,
            "scored_addresses": len(snapshot.rows),
        }

    @app.get("/api/v1/addresses/{address}", responses={**ERRORS, 404: {"description": "Unknown"}})
    def get_address(address: str) -> JSONResponse:
        key = check_address(address)
        snapshot = snapshots.current()
        if snapshot.get(key) is None:
            return JSONResponse(status_code=404, content=not_scored(snapshot, key))
        return JSONResponse(content=answer(snapshot, key, settings))

    @app.post("/api/v1/addresses:batch", responses=ERRORS)
    def batch(request: BatchRequest) -> dict[str, object]:
        if len(request.addresses) > settings.batch_limit:
            raise BadInput(
                f"{len(request.addresses)} addresses in one batch; the limit is "
                f"{settings.batch_limit}"
            )
        snapshot = snapshots.current()
        results = []
        for item in request.addresses:
            try:
                key = check_address(item)
            except BadInput as error:
                results.append({"input": item, "status": 400, "error": str(error)})
                continue
            if snapshot.get(key) is None:
                results.append({"input": item, "status": 404, **not_scored(snapshot, key)})
            else:
                results.append({"input": item, "status": 200, **answer(snapshot, key, settings)})
        return {
            "snapshot": snapshot.name,
            "as_of": snapshot.manifest.get("as_of"),
            "results": results,
        }

    @app.post("/api/v1/reports", status_code=201, responses=ERRORS)
    def report(request: ReportRequest) -> dict[str, object]:
        key = check_address(request.address)
        snapshot = snapshots.current()
        return reports.add(
            {
                "address": key,
                "claimed_label": request.claimed_label,
                "text": request.text,
                "model": snapshot.manifest.get("model"),
                "snapshot": snapshot.name,
            }
        )

    @app.get("/", response_class=HTMLResponse)
    def page(address: str = "") -> HTMLResponse:
        snapshot = snapshots.current()
        body, status, shown = "", 200, address.strip()
        if address.strip():
            try:
                key = check_address(address)
            except BadInput as error:
                body, status = f'<p class="error">{html.escape(str(error))}</p>', 400
            else:
                shown = to_checksum_address(key)
                if snapshot.get(key) is None:
                    body, status = (
                        f'<p class="error">{html.escape(not_scored(snapshot, key)["error"])}</p>',
                        404,
                    )
                else:
                    body = render_answer(answer(snapshot, key, settings))
        return HTMLResponse(
            render_page(address, shown, body, snapshot, reports.count()), status_code=status
        )

    return app


STYLE = """
body{font-family:system-ui,sans-serif;margin:0 auto;max-width:46rem;padding:1rem;color:#222}
form{display:flex;gap:.5rem;flex-wrap:wrap}input[type=text]{flex:1;min-width:14rem;padding:.5rem;
font-family:monospace}button{padding:.5rem 1rem}.error{color:#a00}section{border-top:1px solid
#ddd;margin-top:1rem}.band{font-weight:bold;padding:.1rem .4rem;border-radius:.3rem}
.band-critical{background:#c00;color:#fff}.band-high{background:#f60;color:#fff}
.band-medium{background:#fc3}.band-low{background:#9c6}.band-no-activity{background:#ccc}
table{border-collapse:collapse}td,th{padding:.2rem .5rem;text-align:left;border-bottom:1px solid
#eee}footer{margin-top:2rem;font-size:.85rem;color:#666}code{word-break:break-all}
"""


def render_answer(data: dict[str, object]) -> str:
    """The result block of the page."""
    e = html.escape
    risk = data["illicit"]
    profile = data["profile"]
    band = str(risk["band"])
    if risk["probability"] is None:
        risk_text = "No behavioural score: no transaction or token transfer before the cut-off."
    else:
        decision = "flagged as likely illicit" if risk["flagged"] else "not flagged"
        risk_text = (
            f"Illicit probability {risk['probability']:.1%} (calibrated), {decision} at the "
            f"threshold {risk['threshold']:.1%}."
        )
    bands = ", ".join(f"{e(str(n))} from {float(b):.0%}" for n, b in (risk["bands"] or []))
    reasons = "".join(f"<li>{e(r)}</li>" for r in risk["reasons"]) or "<li>none</li>"
    values = "".join(
        f"<tr><td>{e(k.replace('_', ' '))}</td><td>{v:,.4g}</td></tr>"
        for k, v in profile["values"].items()
    )
    lists = "".join(f"<li>{e(x)}</li>" for x in data["label_lists"])
    listed = (
        f"<section><h3>On label lists</h3><p>Reported by third parties, shown apart from the "
        f"model's opinion:</p><ul>{lists}</ul></section>"
        if lists
        else "<section><h3>On label lists</h3><p>Not on any list the pipeline reads.</p></section>"
    )
    links = data["links"]
    link_items = " · ".join(
        f'<a href="{e(str(url))}">{e(name.replace("_", " "))}</a>'
        for name, url in links.items()
        if url
    )
    name = e(str(profile["name"]))
    return f"""
<section id="risk"><h3>Illicit risk</h3>
<p><span class="band band-{e(band.replace(" ", "-"))}" id="band">{e(band)}</span> {e(risk_text)}</p>
<p>Bands: {bands}.</p><h4>Top reasons</h4><ol id="reasons">{reasons}</ol></section>
<section id="profile"><h3>Investor profile: <span id="profile-name">{name}</span></h3>
<p>{e(str(profile["defined_by"] or ""))}</p><table>{values}</table></section>
{listed}
<section><h3>Provenance</h3><p>Data as of {e(str(data["as_of"]))}; model {e(str(data["model"]))};
snapshot {e(str(data["snapshot"]))}.</p><p>{link_items}</p></section>"""


def render_page(address: str, shown: str, body: str, snapshot: Snapshot, report_count: int) -> str:
    """The whole page: the form (keeping what was typed), the result under `shown`, a footer."""
    e = html.escape
    as_of, model = e(str(snapshot.manifest.get("as_of"))), e(str(snapshot.manifest.get("model")))
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>eth_assets · address</title><style>{STYLE}</style></head><body>
<h1>Ethereum address</h1>
<form method="get" action="/"><input type="text" name="address" id="address"
 value="{e(address)}" placeholder="0x… (40 hex digits)" aria-label="address">
<button type="submit" id="submit">Look up</button></form>
{f'<div id="result"><h2><code>{e(shown)}</code></h2>{body}</div>' if body else ""}
<footer>{len(snapshot.rows):,} addresses scored, data as of {as_of},
model {model}. {report_count:,} misclassification reports
received (<code>POST /api/v1/reports</code>). API schema: <a href="/docs">/docs</a>.</footer>
</body></html>"""
