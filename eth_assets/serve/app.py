"""The address page and JSON API (FastAPI), answering from the published score snapshot.

Every answer comes from one snapshot object; input is validated before anything is looked up
(400 naming the problem, never FastAPI's default 422). An address the snapshot lacks is scored on
the fly from the lake when the store holds whole histories (see `on_the_fly`); otherwise, or
without any history, it gets 404 saying why, never a clean score; while the lake cannot be read,
503 (never cached). Input never becomes SQL text: the one-address query takes the address as a
bound parameter. Bodies are bounded by the bytes read, reports by client and file size (see
`limits`, `reports`); no answer names a server path or setting (the server log does).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from eth_assets.common.addresses import address_problem, to_checksum_address
from eth_assets.serve.answers import (
    Links,
    answer,
    is_simulated,
    not_scored,
    public_reason,
    public_source,
)
from eth_assets.serve.limits import BodyLimit, TokenBuckets, client_key, echoed
from eth_assets.serve.on_the_fly import LakeUnavailable
from eth_assets.serve.page import (
    NOT_PUBLISHED,
    error_block,
    not_published_block,
    render_answer,
    render_page,
)
from eth_assets.serve.reports import DEFAULT_MAX_BYTES, ReportsFull, ReportStore
from eth_assets.serve.screening import ScreeningError, parse_addresses, report_row, to_csv
from eth_assets.serve.snapshot_loader import NothingPublished, Snapshot, SnapshotSource

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
# A screening upload of `screen_limit` addresses with a few columns each fits in this.
MAX_SCREEN_BYTES = 512 * 1024
# What a multipart form adds around the screening file (boundaries, part headers).
FORM_OVERHEAD_BYTES = 4 * 1024
ERRORS = {
    400: {"description": "Malformed input: the message names the problem"},
    413: {"description": "The request body is over the limit"},
}


@dataclass(frozen=True)
class ServeSettings:
    """Where the app reads and writes, and where its links point."""

    published: Path  # the folder of address_scores snapshots
    reports: Path  # the folder of the reports file
    batch_limit: int = 100
    screen_limit: int = 1000
    dagster_url: str = "http://127.0.0.1:3000"
    mlflow_url: str = "http://127.0.0.1:5000"
    # Reports per client address (an IPv6 /64): this many at once, then this many a minute.
    report_burst: int = 10
    reports_per_minute: float = 1.0
    reports_max_bytes: int = DEFAULT_MAX_BYTES  # the reports file's cap


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


class UploadTooLarge(BadInput):
    """A screening file over MAX_SCREEN_BYTES, refused with 413 like any oversized body."""


class ScoringUnavailable(RuntimeError):
    """An address the snapshot lacks cannot be scored just now: the lake, or a file of the
    snapshot that on-the-fly scoring needs, cannot be read (503 with Retry-After, never
    cached). The cause goes to the server log, never to the client."""


# What a client is told when an address cannot be scored just now (no path, no setting).
UNAVAILABLE = (
    "This address cannot be scored just now: the data it is scored from cannot be read. "
    "Try again in a minute."
)
RETRY_AFTER_SECONDS = 30


def look_up(
    snapshot: Snapshot, addresses: list[str]
) -> tuple[dict[str, dict[str, object] | None], set[str]]:
    """Each address's row: from the snapshot, else scored on the fly when the snapshot allows
    it; None when neither has it. And the addresses that cannot be looked up just now (outside
    the snapshot while the lake, or a file on-the-fly scoring needs, cannot be read)."""
    found: dict[str, dict[str, object] | None] = {a: snapshot.get(a) for a in addresses}
    missing = [a for a, row in found.items() if row is None]
    if not missing:
        return found, set()
    if snapshot.on_the_fly is not None:
        try:
            found.update(snapshot.on_the_fly.score(missing))
        except LakeUnavailable as error:
            log.warning(
                "503 for %d address(es) outside %s: %s; restore the lake the snapshot names "
                "(on_the_fly.lake in its pointer)",
                len(missing),
                snapshot.name,
                error,
            )
            return found, set(missing)
    elif snapshot.on_the_fly_fault:
        return found, set(missing)
    return found, set()


def full_answer(
    snapshot: Snapshot, address: str, row: dict[str, object], settings: ServeSettings
) -> dict[str, object]:
    """The API's answer for a scored address, with its context; ScoringUnavailable when the
    context of an on-the-fly address cannot be read from the lake just now."""
    links = Links(settings.dagster_url, settings.mlflow_url)
    try:
        context = snapshot.context(address)
    except LakeUnavailable as error:
        log.warning("503 for %s: %s", address, error)
        raise ScoringUnavailable(address) from error
    return answer(snapshot, address, row, links, context)


class BatchRequest(BaseModel):
    addresses: list[str] = Field(description="Addresses, any case (EIP-55 checked).")


class ReportRequest(BaseModel):
    address: str
    claimed_label: Literal["illicit", "normal"]
    text: str = Field("", max_length=2000)


def batch_results(
    snapshot: Snapshot, items: list[str], settings: ServeSettings
) -> list[dict[str, object]]:
    """The answer of every item, in order: 200 with the answer, 400 naming what is wrong with
    the item, 404 saying why it has no score, or 503 when it cannot be scored just now (one
    on-the-fly query for all it lacks)."""
    keys: dict[int, str] = {}
    problems: dict[int, str] = {}
    for index, item in enumerate(items):
        try:
            keys[index] = check_address(item)
        except BadInput as error:
            problems[index] = str(error)
    rows, unavailable = look_up(snapshot, list(dict.fromkeys(keys.values())))
    results: list[dict[str, object]] = []
    for index, item in enumerate(items):
        shown = echoed(item)
        if index in problems:
            results.append({"input": shown, "status": 400, "error": problems[index]})
            continue
        key = keys[index]
        row = rows[key]
        if key in unavailable:
            results.append({"input": shown, "status": 503, "address": key, "error": UNAVAILABLE})
        elif row is None:
            results.append({"input": shown, "status": 404, **not_scored(snapshot, key)})
        else:
            try:
                found = full_answer(snapshot, key, row, settings)
            except ScoringUnavailable:
                results.append(
                    {"input": shown, "status": 503, "address": key, "error": UNAVAILABLE}
                )
                continue
            results.append({"input": shown, "status": 200, **found})
    return results


def retry_header(statuses: list[object]) -> dict[str, str]:
    """Retry-After for an answer some of whose items could not be scored just now."""
    return {"Retry-After": str(RETRY_AFTER_SECONDS)} if 503 in statuses else {}


def create_app(settings: ServeSettings, clock: Callable[[], float] = time.monotonic) -> FastAPI:
    """The app over `settings.published`; reports go to `settings.reports`, rate-limited on
    `clock`. Its API docs (/docs) load Swagger UI from the installed package, not from a CDN
    (ReDoc is left out: its bundle still fetches a logo from one)."""
    app = FastAPIOffline(
        redoc_url=None,
        title="eth_assets address scores",
        description="Investor profile and illicit-account risk of an Ethereum address, with "
        "the reasons on both sides, exposure, counterparties and activity over time.",
        version="2",
    )
    snapshots = SnapshotSource(settings.published)
    reports = ReportStore(settings.reports, settings.reports_max_bytes)
    report_buckets = TokenBuckets(settings.report_burst, settings.reports_per_minute, clock)
    app.state.snapshots, app.state.reports = snapshots, reports  # for operators and tests

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{echoed('.'.join(str(p) for p in e.get('loc', ())))}: {echoed(e.get('msg'))}"
            for e in error.errors()[:5]
        )
        return JSONResponse(status_code=400, content={"error": f"malformed request: {problems}"})

    @app.exception_handler(BadInput)
    async def bad_input(request: Request, error: BadInput) -> JSONResponse:
        status = 413 if isinstance(error, UploadTooLarge) else 400
        return JSONResponse(status_code=status, content={"error": str(error)})

    @app.exception_handler(ScoringUnavailable)
    async def unavailable(request: Request, error: ScoringUnavailable) -> JSONResponse:
        return JSONResponse(
            status_code=503,
            content={"error": UNAVAILABLE},
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )

    # Bodies are counted as they are read, whatever the headers say: a chunked body declares
    # no length. A form's boundaries come on top of the screening file's own limit.
    app.add_middleware(
        BodyLimit,
        default=MAX_BODY_BYTES,
        limits={"/api/v1/screen": MAX_SCREEN_BYTES},
        form_overhead=FORM_OVERHEAD_BYTES,
    )

    @app.exception_handler(NothingPublished)
    async def not_published(request: Request, error: NothingPublished) -> JSONResponse:
        return JSONResponse(
            status_code=503,
            content={"error": NOT_PUBLISHED},
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )

    @app.get("/healthz")
    def healthz() -> JSONResponse:
        """Which snapshot serves, whether it is the newest published (else why not, in words),
        and whether addresses outside it are scored on the fly (else why not)."""
        serving = snapshots.serving()
        snapshot = serving.snapshot
        if snapshot is None:
            return JSONResponse(
                status_code=503,
                content={
                    "status": "no snapshot",
                    "snapshot": None,
                    "newest_published": False,
                    "fallback_reason": serving.problem or None,
                    "on_the_fly": {"on": False, "why_not": "no snapshot is served"},
                },
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        on, why_not, fault = on_the_fly_state(snapshot)
        return JSONResponse(
            {
                "status": "degraded" if serving.problem or fault else "ok",
                "snapshot": snapshot.name,
                "newest_published": serving.newest,
                "fallback_reason": serving.problem or None,
                "model": snapshot.manifest.get("model"),
                "as_of": snapshot.manifest.get("as_of"),
                "chain_source": public_source(snapshot.manifest.get("chain_source")),
                "scored_addresses": len(snapshot.rows),
                "on_the_fly": {"on": on, "why_not": why_not},
            }
        )

    @app.get("/api/v1/addresses/{address}", responses={**ERRORS, 404: {"description": "Unknown"}})
    def get_address(address: str) -> JSONResponse:
        key = check_address(address)
        snapshot = snapshots.current()
        rows, unavailable = look_up(snapshot, [key])
        if unavailable:
            raise ScoringUnavailable(key)
        row = rows[key]
        if row is None:
            return JSONResponse(status_code=404, content=not_scored(snapshot, key))
        return JSONResponse(content=full_answer(snapshot, key, row, settings))

    @app.post("/api/v1/addresses:batch", responses=ERRORS)
    def batch(request: BatchRequest, response: Response) -> dict[str, object]:
        if len(request.addresses) > settings.batch_limit:
            raise BadInput(
                f"{len(request.addresses)} addresses in one batch; the limit is "
                f"{settings.batch_limit}"
            )
        snapshot = snapshots.current()
        results = batch_results(snapshot, request.addresses, settings)
        # Returned as a dict, so FastAPI serializes it (faster than JSONResponse's json.dumps).
        response.headers.update(retry_header([r["status"] for r in results]))
        return {
            "snapshot": snapshot.name,
            "as_of": snapshot.manifest.get("as_of"),
            "results": results,
        }

    @app.post(
        "/api/v1/screen",
        responses={
            **ERRORS,
            200: {"content": {"text/csv": {}}, "description": "One row per line of the upload"},
        },
    )
    async def screen(request: Request, format: Literal["json", "csv"] = "json") -> Response:
        """Screen a CSV of addresses (one per line, or an `address` column), sent as the body
        (text/csv) or as the `file` field of a form: band, probability, top reasons and
        exposure per line; malformed lines reported with their line number."""
        content = await upload(request)
        try:
            lines, _ = parse_addresses(content, settings.screen_limit)
        except ScreeningError as error:
            raise BadInput(str(error)) from error
        snapshot = snapshots.current()
        results = batch_results(snapshot, [line.text for line in lines], settings)
        rows = [report_row(line, result) for line, result in zip(lines, results, strict=True)]
        retry = retry_header([row["status"] for row in rows])
        if format == "csv":
            return PlainTextResponse(
                to_csv(rows),
                media_type="text/csv",
                headers={"Content-Disposition": 'attachment; filename="screening.csv"', **retry},
            )
        return JSONResponse(
            {"snapshot": snapshot.name, "as_of": snapshot.manifest.get("as_of"), "rows": rows},
            headers=retry,
        )

    @app.post(
        "/api/v1/reports",
        status_code=201,
        responses={
            **ERRORS,
            429: {"description": "Too many reports from this client: retry after Retry-After"},
            507: {"description": "The report store is full: reports are not accepted"},
        },
    )
    def report(request: ReportRequest, http: Request) -> JSONResponse:
        key = check_address(request.address)
        wait = report_buckets.take(client_key(http.client.host if http.client else None))
        if wait > 0:
            return JSONResponse(
                status_code=429,
                content={
                    "error": f"Too many reports from your address: up to "
                    f"{settings.report_burst} at once, then {settings.reports_per_minute:g} a "
                    f"minute. Try again in {math.ceil(wait)} seconds."
                },
                headers={"Retry-After": str(math.ceil(wait))},
            )
        snapshot = snapshots.current()
        try:
            record = reports.add(
                {
                    "address": key,
                    "claimed_label": request.claimed_label,
                    "text": request.text,
                    "model": snapshot.manifest.get("model"),
                    "snapshot": snapshot.name,
                }
            )
        except ReportsFull:
            return JSONResponse(
                status_code=507,
                content={
                    "error": "The service is not accepting reports just now: its report store "
                    "is full. Please try again in a few days."
                },
            )
        return JSONResponse(status_code=201, content=record)

    @app.get("/", response_class=HTMLResponse)
    def page(address: str = "") -> HTMLResponse:
        typed, shown = echoed(address), echoed(address.strip())
        try:
            snapshot = snapshots.current()
        except NothingPublished:
            body = not_published_block()
            page = render_page(typed, shown, body, {"screen_limit": settings.screen_limit}, False)
            return HTMLResponse(page, status_code=503, headers=retry_header([503]))
        body, status = "", 200
        if address.strip():
            try:
                key = check_address(address)
            except BadInput as error:
                body, status = error_block(str(error)), 400
            else:
                shown = to_checksum_address(key)
                body, status = page_result(snapshot, key, settings)
        summary = {
            "scored": len(snapshot.rows),
            "as_of": snapshot.manifest.get("as_of"),
            "model": snapshot.manifest.get("model"),
            "screen_limit": settings.screen_limit,
        }
        simulated = is_simulated(snapshot.manifest.get("chain_source"))
        return HTMLResponse(
            render_page(typed, shown, body, summary, simulated),
            status_code=status,
            headers=retry_header([status]),
        )

    return app


async def upload(request: Request) -> bytes:
    """The uploaded file's bytes: the `file` field of a multipart form, or the raw body (the
    BodyLimit middleware stops reading past the screening limit, whatever the headers say)."""
    kind = request.headers.get("content-type", "")
    if kind.startswith("multipart/form-data"):
        try:
            form = await request.form(max_files=1, max_fields=4, max_part_size=MAX_SCREEN_BYTES)
        except HTTPException as error:  # Starlette's refusal of an oversized or broken form
            raise BadInput(f"the form could not be read: {error.detail}") from error
        file = form.get("file")
        if file is None or isinstance(file, str):
            raise BadInput("the form has no `file` field holding the CSV of addresses")
        content = await file.read(MAX_SCREEN_BYTES + 1)
    else:  # BodyLimit has already bounded the bytes read, chunked or not
        content = await request.body()
    if len(content) > MAX_SCREEN_BYTES:
        raise UploadTooLarge(f"the upload is over the limit of {MAX_SCREEN_BYTES:,} bytes")
    return content


def on_the_fly_state(snapshot: Snapshot) -> tuple[bool, str | None, bool]:
    """Whether addresses outside `snapshot` are scored on the fly now, why not in words a
    client may read, and whether that is a fault (a file or the lake unreadable) rather than
    how the snapshot was published."""
    if snapshot.on_the_fly is not None:
        problem = snapshot.on_the_fly.lake_problem()
        if problem is None:
            return True, None, False
        log.warning("on-the-fly scoring cannot read the lake: %s", problem)
        return False, "the lake it scores from cannot be read just now", True
    if snapshot.on_the_fly_fault:
        return False, snapshot.on_the_fly_fault, True
    return False, public_reason(snapshot.on_the_fly_note), False


def page_result(snapshot: Snapshot, key: str, settings: ServeSettings) -> tuple[str, int]:
    """The page's result block for a valid address, and its HTTP status."""
    unavailable = error_block(
        "The data store cannot be read just now, so this address cannot be scored. "
        "Try again in a minute."
    )
    rows, missing = look_up(snapshot, [key])
    if missing:
        return unavailable, 503
    row = rows[key]
    if row is None:
        why = not_scored(snapshot, key)
        return error_block(str(why["error"]), str(why.get("detail") or "")), 404
    try:
        return render_answer(full_answer(snapshot, key, row, settings)), 200
    except ScoringUnavailable:
        return unavailable, 503
