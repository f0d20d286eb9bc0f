"""The address page's HTML: every section rendered on the server from the JSON answer, numbers
rounded for people, no external script, style or font; readable at 390 px."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

from eth_assets.serve.charts import activity_svg

e = html.escape

STYLE = """
*{box-sizing:border-box}body{font-family:system-ui,sans-serif;margin:0 auto;max-width:52rem;
padding:1rem;color:#222;overflow-wrap:anywhere}form{display:flex;gap:.5rem;flex-wrap:wrap}
input[type=text]{flex:1;min-width:0;width:100%;padding:.5rem;font-family:monospace}
button{padding:.5rem 1rem}.error{color:#a00}section{border-top:1px solid #ddd;margin-top:1rem}
.band{font-weight:bold;padding:.1rem .4rem;border-radius:.3rem}
.band-critical{background:#c00;color:#fff}.band-high{background:#f60;color:#fff}
.band-medium{background:#fc3}.band-low{background:#9c6}.band-no-activity{background:#ccc}
.scroll{overflow-x:auto;max-width:100%}table{border-collapse:collapse;font-size:.9rem}
td,th{padding:.2rem .5rem;text-align:left;border-bottom:1px solid #eee;vertical-align:top}
td.n,th.n{text-align:right;white-space:nowrap}footer{margin-top:2rem;font-size:.85rem;color:#666}
code{word-break:break-all}.banner{background:#fff3cd;border:1px solid #e0c060;padding:.5rem;
border-radius:.3rem}.up{color:#a00}.down{color:#070}.note{font-size:.85rem;color:#555}
.pill{display:inline-block;font-size:.8rem;background:#eee;border-radius:.3rem;padding:0 .3rem;
margin:.1rem}.pill-listed{background:#fdd}textarea{width:100%}details{margin:.3rem 0}
ol,ul{padding-left:1.3rem}h2{font-size:1.1rem}
"""


def percent(value: object) -> str:
    """A probability or share for people: "12.3 %", "< 0.1 %", "> 99.9 %"."""
    if value is None:
        return "–"
    number = float(value)  # type: ignore[arg-type]
    if 0 < number < 0.001:
        return "< 0.1 %"
    if 0.999 < number < 1:
        return "> 99.9 %"
    return f"{number * 100:.1f} %"


def amount(value: object, unit: str = "") -> str:
    """An amount rounded for people (3 significant digits below 1,000, none above)."""
    if value is None:
        return "–"
    number = float(value)  # type: ignore[arg-type]
    if number == 0:
        text = "0"
    elif abs(number) >= 1000 or number == int(number):
        text = f"{number:,.0f}"
    else:
        text = f"{number:.3g}"
    return f"{text} {unit}".strip()


def short(address: str) -> str:
    return f"{address[:8]}…{address[-6:]}" if len(address) > 16 else address


def _date(value: object) -> str:
    return str(value)[:10] if value else "–"


def _labels(entries: Sequence[Mapping[str, object]]) -> str:
    return "".join(
        f'<span class="pill pill-listed">{e(str(x.get("source") or ""))}: '
        f"{e(str(x.get('category') or 'listed'))}</span>"
        for x in entries
    )


def reasons_html(reasons: Sequence[Mapping[str, object]]) -> str:
    """Two lists: what raises the risk and what lowers it, each reason with its points."""
    up = [r for r in reasons if r.get("direction") == "raises"]
    down = [r for r in reasons if r.get("direction") == "lowers"]
    unknown = [r for r in reasons if r.get("direction") not in ("raises", "lowers")]

    def items(found: Sequence[Mapping[str, object]], kind: str) -> str:
        rows = []
        for reason in found:
            points = reason.get("points")
            sign = "▲ +" if kind == "up" else "▼ −"
            weight = (
                f'<span class="{kind}">{sign}{abs(float(points)) * 100:.1f} points</span> '  # type: ignore[arg-type]
                if points is not None
                else ""
            )
            if reason.get("label"):
                text = f"{reason['label']}: {reason.get('shown')}"
                comparison = str(reason.get("sentence") or "").partition(
                    f"{reason.get('shown')}, "
                )[2]
                body = e(text) + (
                    f'<br><span class="note">{e(comparison)}</span>' if comparison else ""
                )
            else:
                body = e(str(reason.get("sentence") or reason.get("feature")))
            rows.append(f"<li>{weight}{body}</li>")
        return "".join(rows) or "<li>none</li>"

    parts = [
        f'<h4>Raising the risk</h4><ol id="reasons-up">{items(up, "up")}</ol>',
        f'<h4>Lowering the risk</h4><ol id="reasons-down">{items(down, "down")}</ol>',
    ]
    if unknown:
        parts.append(f'<h4>Reasons</h4><ol id="reasons">{items(unknown, "")}</ol>')
    return "".join(parts)


EXPOSURE_ROWS = (
    ("eth_received", "ETH received", "from"),
    ("eth_sent", "ETH sent", "to"),
    ("token_transfers_received", "token transfers received", "from"),
    ("token_transfers_sent", "token transfers sent", "to"),
)


def exposure_html(exposure: Mapping[str, object] | None) -> str:
    """Direct (and one-hop indirect) exposure to listed and to flagged addresses."""
    if not exposure:
        return (
            '<section id="exposure"><h3>Exposure</h3><p class="note">Not computed for this '
            "snapshot.</p></section>"
        )
    rows = []
    for key, label, _ in EXPOSURE_ROWS:
        part = exposure.get(key) or {}
        unit = "ETH" if key.startswith("eth") else ""
        rows.append(
            f"<tr><td>{e(label)}</td><td class='n'>{e(amount(part.get('total'), unit))}</td>"  # type: ignore[union-attr]
            f"<td class='n'>{percent(part.get('listed_share'))}</td>"  # type: ignore[union-attr]
            f"<td class='n'>{percent(part.get('flagged_share'))}</td>"  # type: ignore[union-attr]
            f"<td class='n'>{percent(part.get('indirect_listed_share'))}</td>"  # type: ignore[union-attr]
            f"<td class='n'>{percent(part.get('indirect_flagged_share'))}</td></tr>"  # type: ignore[union-attr]
        )
    notes = [str(exposure.get("indirect_note") or ""), str(exposure.get("note") or "")]
    sources = ", ".join(str(s) for s in exposure.get("label_sources") or []) or "none"  # type: ignore[union-attr]
    return (
        '<section id="exposure"><h3>Exposure</h3><p class="note">Facts from the transfers, '
        "apart from the model's opinion: the share of value or transfers that came from or "
        f"went to addresses on label lists ({e(sources)}) or that the model flags; indirect: "
        "one hop further.</p><div class='scroll'><table><tr><th></th><th class='n'>total</th>"
        "<th class='n'>listed</th><th class='n'>flagged</th><th class='n'>indirect listed</th>"
        f"<th class='n'>indirect flagged</th></tr>{''.join(rows)}</table></div>"
        + "".join(f'<p class="note">{e(n)}</p>' for n in notes if n)
        + "</section>"
    )


def counterparties_html(counterparties: Mapping[str, object] | None) -> str:
    """Top counterparties by value and by count, with their lists, entity kinds and bands."""
    if not counterparties:
        return ""
    tables = []
    for key, title in (("by_value", "by ether moved"), ("by_count", "by number of transfers")):
        rows = []
        for c in counterparties.get(key) or []:  # type: ignore[union-attr]
            address = str(c["address"])
            tags = _labels(c.get("label_lists") or []) + "".join(
                f'<span class="pill">{e(str(k))}</span>' for k in c.get("entity") or []
            )
            band = c.get("band")
            came = int(c.get("transactions_in") or 0) + int(c.get("token_transfers_in") or 0)
            went = int(c.get("transactions_out") or 0) + int(c.get("token_transfers_out") or 0)
            rows.append(
                f'<tr><td><a href="/?address={e(address)}"><code>{e(short(address))}</code></a>'
                f"</td><td class='n'>{e(amount(c.get('eth_in'), 'ETH'))}</td>"
                f"<td class='n'>{e(amount(c.get('eth_out'), 'ETH'))}</td>"
                f"<td class='n'>{came:,} / {went:,}</td>"
                f"<td>{tags}</td><td>{e(str(band)) if band else '–'}</td></tr>"
            )
        tables.append(
            f"<h4>{title}</h4><div class='scroll'><table class='counterparties'><tr>"
            "<th>address</th><th class='n'>ETH in</th><th class='n'>ETH out</th>"
            "<th class='n'>transfers in / out</th><th>labels</th><th>band</th></tr>"
            f"{''.join(rows) or '<tr><td colspan=6>none</td></tr>'}</table></div>"
        )
    return f'<section id="counterparties"><h3>Counterparties</h3>{"".join(tables)}</section>'


def activity_html(
    activity: Mapping[str, object] | None,
    holdings: Sequence[Mapping[str, object]] | None,
    history: Sequence[Mapping[str, object]] | None,
) -> str:
    """First and last seen, the monthly chart, token holdings and the score's history."""
    if not activity and not holdings and not history:
        return ""
    parts = ['<section id="activity"><h3>Activity over time</h3>']
    if activity:
        parts.append(
            f"<p>First seen {e(_date(activity.get('first_seen')))}, last seen "
            f"{e(_date(activity.get('last_seen')))}.</p>"
            + activity_svg(activity.get("monthly") or [])  # type: ignore[arg-type]
        )
    if holdings:
        rows = "".join(
            f"<tr><td><code>{e(str(h.get('name') or short(str(h['token']))))}</code></td>"
            f"<td class='n'>{e(amount(h.get('balance')))} {e(str(h.get('units') or ''))}</td></tr>"
            for h in holdings
        )
        negative = any(float(h.get("balance") or 0) < 0 for h in holdings)  # type: ignore[arg-type]
        parts.append(
            f"<h4>Token holdings at the cut-off</h4><div class='scroll'><table id='holdings'>"
            f"<tr><th>token</th><th class='n'>balance</th></tr>{rows}</table></div>"
            + (
                "<p class='note'>A negative balance: more of the token was sent than the data "
                "shows received (tokens minted or received outside the data).</p>"
                if negative
                else ""
            )
        )
    if history:
        rows = "".join(
            f"<tr><td>{e(_date(h.get('published_at')))}</td><td>{e(_date(h.get('as_of')))}</td>"
            f"<td class='n'>{percent(h.get('probability'))}</td><td>{e(str(h.get('band')))}</td>"
            f"<td>{e(str(h.get('model') or ''))}</td></tr>"
            for h in history
        )
        parts.append(
            "<h4>Score history</h4><div class='scroll'><table id='score-history'><tr>"
            "<th>published</th><th>data as of</th><th class='n'>probability</th><th>band</th>"
            f"<th>model</th></tr>{rows}</table></div>"
        )
    return "".join(parts) + "</section>"


def report_form(address: str) -> str:
    """A form that posts a misclassification report to the API (a few lines of inline script;
    nothing loaded from elsewhere)."""
    return f"""<section id="report"><h3>Report a misclassification</h3>
<form id="report-form"><input type="hidden" name="address" value="{e(address)}">
<label>This address is <select name="claimed_label" id="claimed-label">
<option value="illicit">illicit</option><option value="normal">normal</option></select></label>
<textarea name="text" id="report-text" maxlength="2000" rows="2"
 placeholder="What you know (optional)"></textarea>
<button type="submit" id="report-submit">Send report</button></form>
<p id="report-status" class="note" role="status"></p></section>
<script>
document.getElementById("report-form").addEventListener("submit", async (event) => {{
  event.preventDefault();
  const form = new FormData(event.target), status = document.getElementById("report-status");
  const response = await fetch("/api/v1/reports", {{method: "POST",
    headers: {{"Content-Type": "application/json"}},
    body: JSON.stringify({{address: form.get("address"),
      claimed_label: form.get("claimed_label"), text: form.get("text")}})}});
  const body = await response.json();
  status.textContent = response.ok ? "Thank you: report received." : "Not sent: " + body.error;
}});
</script>"""


def render_answer(data: Mapping[str, object]) -> str:
    """The result block of the page."""
    risk: Mapping[str, object] = data["illicit"]  # type: ignore[assignment]
    profile: Mapping[str, object] = data["profile"]  # type: ignore[assignment]
    band = str(risk["band"])
    if risk["probability"] is None:
        risk_text = "No behavioural score: no transaction or token transfer before the cut-off."
        confidence = ""
    else:
        decision = "flagged as likely illicit" if risk["flagged"] else "not flagged"
        interval = risk.get("interval")
        risk_text = (
            f"Illicit probability {percent(risk['probability'])}"
            + (f" (likely {percent(interval[0])}–{percent(interval[1])})" if interval else "")  # type: ignore[index]
            + f", {decision} at the threshold {percent(risk['threshold'])}."
        )
        confidence = f'<p id="confidence">{e(str(risk.get("confidence") or ""))}</p>'
    kind = data.get("illicit_type")
    likely = (
        f'<p id="illicit-type">likely type: {e(str(kind).replace("_", " "))} '
        f"({percent(data.get('illicit_type_probability'))})</p>"
        if risk["flagged"] and kind
        else ""
    )
    bands = ", ".join(f"{e(str(n))} from {percent(b)}" for n, b in (risk["bands"] or []))  # type: ignore[union-attr]
    values = "".join(
        f"<tr><td>{e(str(v.get('label') or k))}</td><td class='n'>{e(str(v['shown']))}</td></tr>"
        for k, v in (profile["values"] or {}).items()  # type: ignore[union-attr]
    )
    lists: Sequence[Mapping[str, object]] = data["label_lists"]  # type: ignore[assignment]
    listed_rows = "".join(
        f"<tr><td>{e(str(x.get('source')))}</td><td>{e(str(x.get('category') or 'listed'))}</td>"
        f"<td>{e(str(x.get('name') or ''))}</td><td>{e(_date(x.get('date')))}</td></tr>"
        for x in lists
    )
    listed = (
        "<section id='label-lists'><h3>On label lists</h3><p>Reported by third parties, shown "
        "apart from the model's opinion:</p><div class='scroll'><table><tr><th>list</th>"
        f"<th>category</th><th>name</th><th>date</th></tr>{listed_rows}</table></div></section>"
        if lists
        else "<section id='label-lists'><h3>On label lists</h3><p>Not on any list the pipeline "
        "reads.</p></section>"
    )
    links: Mapping[str, object] = data["links"]  # type: ignore[assignment]
    link_items = " · ".join(
        f'<a href="{e(str(url))}">{e(name.replace("_", " "))}</a>'
        for name, url in links.items()
        if url
    )
    scored = (
        f"scored on the fly at {e(_date(data['scored_at']))} (not in the snapshot: its features "
        "were computed from the store for this request)"
        if data.get("scored") == "on the fly"
        else f"snapshot {e(str(data['snapshot']))}"
    )
    age = data.get("data_age_days")
    age_text = f" ({float(age):,.0f} days old)" if age is not None else ""  # type: ignore[arg-type]
    description = str(profile["defined_by"] or "")
    describes = (
        f"<p>Addresses in this profile, against all active addresses: {e(description)}.</p>"
        if description and not description.startswith("no ")
        else ""
    )
    return f"""
<section id="risk"><h3>Illicit risk (the model's opinion)</h3>
<p><span class="band band-{e(band.replace(" ", "-"))}" id="band">{e(band)}</span> {e(risk_text)}</p>
{confidence}{likely}<p class="note">Bands: {bands}.</p>{reasons_html(risk["reasons"])}</section>
{exposure_html(data.get("exposure"))}
{counterparties_html(data.get("counterparties"))}
{activity_html(data.get("activity"), data.get("holdings"), data.get("score_history"))}
<section id="profile"><h3>Investor profile:
<span id="profile-name">{e(str(profile["name"] or "–"))}</span></h3>{describes}
<h4>This address</h4><div class="scroll"><table>{values}</table></div></section>
{listed}
<section id="provenance"><h3>Provenance</h3><p>Data as of {e(_date(data["as_of"]))}{age_text} from
<span id="chain-source">{e(str(data.get("chain_source") or "unknown source"))}</span>; model
{e(str(data["model"]))}; {scored}.</p><p>{link_items}</p></section>
{report_form(str(data["address"]))}"""


def error_block(message: str, detail: str = "") -> str:
    """A short error a person understands, with the details folded away."""
    folded = f"<details><summary>Details</summary><p>{e(detail)}</p></details>" if detail else ""
    return f'<div class="error" id="error"><p>{e(message)}</p>{folded}</div>'


SIMULATED_BANNER = (
    '<p class="banner" id="simulated-banner"><strong>Simulated data.</strong> These addresses, '
    "transfers and scores come from the built-in simulated chain, not from Ethereum: use them "
    "to try the tools, never to judge a real address.</p>"
)


def render_page(
    address: str,
    shown: str,
    body: str,
    summary: Mapping[str, object],
    simulated: bool,
) -> str:
    """The whole page: the banner for simulated data, the look-up form (keeping what was
    typed), the result under `shown`, the screening form and a footer (`summary`: scored,
    as_of, model, screen_limit; without `scored`, nothing is published yet)."""
    banner = SIMULATED_BANNER if simulated else ""
    result = f'<div id="result"><h2><code>{e(shown)}</code></h2>{body}</div>' if body else ""
    footer = (
        f"{int(summary.get('scored') or 0):,} addresses scored, data as of "
        f"{e(_date(summary.get('as_of')))}, model {e(str(summary.get('model')))}."
        if summary.get("scored") is not None
        else "No scores are published yet."
    )
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>eth_assets · address</title><style>{STYLE}</style></head><body>
{banner}<h1>Ethereum address</h1>
<form method="get" action="/"><input type="text" name="address" id="address"
 value="{e(address)}" placeholder="0x… (40 hex digits)" aria-label="address">
<button type="submit" id="submit">Look up</button></form>
{result}
<section id="screen"><h3>Screen many addresses</h3>
<form method="post" action="/api/v1/screen?format=csv" enctype="multipart/form-data">
<input type="file" name="file" accept=".csv,.txt,text/csv" id="screen-file" aria-label="CSV file">
<button type="submit" id="screen-submit">Screen (CSV report)</button></form>
<p class="note">A CSV or text file with one address per line (or an <code>address</code> column),
up to {int(summary.get("screen_limit") or 0):,} addresses.</p></section>
<footer>{footer} API: <a href="/docs">/docs</a>.</footer>
</body></html>"""


NOT_PUBLISHED = (
    "Scores are not published yet: the pipeline has not published any this server can read. "
    "Try again later."
)


def not_published_block() -> str:
    """What the page says in place of any result before scores are published."""
    return (
        f'<div class="error" id="not-published"><p>{e(NOT_PUBLISHED)}</p><p class="note">'
        "Addresses can be looked up once the first scores are published.</p></div>"
    )
