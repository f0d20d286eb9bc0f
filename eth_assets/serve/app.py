"""The address page and JSON API (FastAPI), answering from the published score snapshot.

Every answer comes from one snapshot object; input is validated before anything is looked up
(400 naming the problem, never FastAPI's default 422). An address the snapshot lacks is scored on
the fly from the lake when the store holds whole histories (see `on_the_fly`); otherwise, or
without any history, it gets 404 saying why, never a clean score. Input never becomes SQL text:
the one-address query takes the address as a bound parameter.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import duckdb
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


class ScoringUnavailable(RuntimeError):
    """The lake could not be read for an on-the-fly score (503, retry later)."""


def look_up(snapshot: Snapshot, addresses: list[str]) -> dict[str, dict[str, object] | None]:
    """Each address's row: from the snapshot, else scored on the fly when the snapshot allows
    it; None when neither has it."""
    found: dict[str, dict[str, object] | None] = {a: snapshot.get(a) for a in addresses}
    missing = [a for a, row in found.items() if row is None]
    if missing and snapshot.on_the_fly is not None:
        try:
            found.update(snapshot.on_the_fly.score(missing))
        except (duckdb.Error, OSError) as error:  # the lake unreadable: retry later
            raise ScoringUnavailable(
                f"could not score {', '.join(missing[:3])}{' …' if len(missing) > 3 else ''} "
                f"on the fly from the lake: {error}"
            ) from error
    return found


def _timestamp(value: object) -> str | None:
    return value.isoformat() if hasattr(value, "isoformat") else None


def answer(
    snapshot: Snapshot, address: str, row: dict[str, object], settings: ServeSettings
) -> dict[str, object]:
    """The full answer for a scored address (probability, band, reasons, profile, lists)."""
    manifest = snapshot.manifest
    run_id = str(manifest.get("dagster_run_id", ""))
    model = str(row.get("model") or manifest.get("model", ""))
    name, _, version = model.partition(" v")
    return {
        "address": address,
        "as_of": manifest.get("as_of"),
        "model": model,
        "snapshot": snapshot.name,
        "scored": row.get("scored", "snapshot"),
        "scored_at": _timestamp(row.get("scored_at")),
        "has_activity": bool(row["has_activity"]),
        # The most likely type of illicit activity of a flagged address (NULL otherwise, and in
        # snapshots published before the type model).
        "illicit_type": row.get("illicit_type"),
        "illicit_type_probability": _number(row.get("illicit_type_probability")),
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
    """Why an address has no score: no history in the store, or a store that cannot score it."""
    as_of = snapshot.manifest.get("as_of")
    if snapshot.on_the_fly is not None:
        error = (
            f"no history of {address} in the store as of {as_of}: no transaction or token "
            "transfer of it before that cut-off, so it has no score (an unknown address is "
            "never reported as clean)"
        )
        lists = snapshot.on_the_fly.label_hits.get(address, [])
        return {"address": address, "error": error, "label_lists": lists}
    error = (
        f"no score for {address}: it is not among the {len(snapshot.rows):,} addresses scored "
        f"as of {as_of}, and it is not scored on the fly because "
        f"{snapshot.on_the_fly_note or 'this snapshot does not allow it'} (its history is not "
        "in the store as far as the scores go; an unknown address is never reported as clean)"
    )
    return {"address": address, "error": error}


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

    @app.exception_handler(ScoringUnavailable)
    async def unavailable(request: Request, error: ScoringUnavailable) -> JSONResponse:
        return JSONResponse(
            status_code=503, content={"error": str(error)}, headers={"Retry-After": "5"}
        )

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
        row = look_up(snapshot, [key])[key]
        if row is None:
            return JSONResponse(status_code=404, content=not_scored(snapshot, key))
        return JSONResponse(content=answer(snapshot, key, row, settings))

    @app.post("/api/v1/addresses:batch", responses=ERRORS)
    def batch(request: BatchRequest) -> dict[str, object]:
        if len(request.addresses) > settings.batch_limit:
            raise BadInput(
                f"{len(request.addresses)} addresses in one batch; the limit is "
                f"{settings.batch_limit}"
            )
        snapshot = snapshots.current()
        keys: dict[int, str] = {}
        problems: dict[int, str] = {}
        for index, item in enumerate(request.addresses):
            try:
                keys[index] = check_address(item)
            except BadInput as error:
                problems[index] = str(error)
        rows = look_up(snapshot, list(dict.fromkeys(keys.values())))
        results = []
        for index, item in enumerate(request.addresses):
            if index in problems:
                results.append({"input": item, "status": 400, "error": problems[index]})
                continue
            key = keys[index]
            row = rows[key]
            if row is None:
                results.append({"input": item, "status": 404, **not_scored(snapshot, key)})
            else:
                results.append(
                    {"input": item, "status": 200, **answer(snapshot, key, row, settings)}
                )
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
                body, status = page_result(snapshot, key, settings)
        return HTMLResponse(
            render_page(address, shown, body, snapshot, reports.count()), status_code=status
        )

    return app


def page_result(snapshot: Snapshot, key: str, settings: ServeSettings) -> tuple[str, int]:
    """The page's result block for a valid address, and its HTTP status."""
    try:
        row = look_up(snapshot, [key])[key]
    except ScoringUnavailable as error:
        return f'<p class="error">{html.escape(str(error))}</p>', 503
    if row is None:
        return f'<p class="error">{html.escape(not_scored(snapshot, key)["error"])}</p>', 404
    return render_answer(answer(snapshot, key, row, settings)), 200


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
    kind = data.get("illicit_type")
    likely = (
        f'<p id="illicit-type">likely type: {e(str(kind).replace("_", " "))} '
        f"({float(data['illicit_type_probability'] or 0.0) * 100:.0f} %)</p>"
        if risk["flagged"] and kind
        else ""
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
    scored = (
        f"scored on the fly at {e(str(data['scored_at']))} (not in snapshot "
        f"{e(str(data['snapshot']))}: its features were computed from the store for this request)"
        if data.get("scored") == "on the fly"
        else f"snapshot {e(str(data['snapshot']))}"
    )
    return f"""
<section id="risk"><h3>Illicit risk</h3>
<p><span class="band band-{e(band.replace(" ", "-"))}" id="band">{e(band)}</span> {e(risk_text)}</p>
{likely}<p>Bands: {bands}.</p><h4>Top reasons</h4><ol id="reasons">{reasons}</ol></section>
<section id="profile"><h3>Investor profile: <span id="profile-name">{name}</span></h3>
<p>{e(str(profile["defined_by"] or ""))}</p><table>{values}</table></section>
{listed}
<section><h3>Provenance</h3><p>Data as of {e(str(data["as_of"]))}; model {e(str(data["model"]))};
{scored}.</p><p>{link_items}</p></section>"""


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
