"""GET /ops: the ops page (docs/api.md), one self-contained HTML file (ops.html) with inline CSS and JS.

The page is a shell without data, so it needs no key: a browser navigation cannot send
`Authorization: Bearer`. Its script reads the ops key from the URL fragment (never sent to the
server, so never logged) or a form, keeps it in sessionStorage and calls `kpis` relative to the
page's own URL (so behind API Gateway's stage prefix too) with the key in the header; the data is
guarded by /kpis itself. The Content-Security-Policy allows only the page's own inline script and
style (by hash) and same-origin requests.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from chalice import Blueprint, Response

blueprint = Blueprint(__name__)

PAGE = Path(__file__).with_name("ops.html")
TIMEZONE_PLACEHOLDER = "{{program_timezone}}"


def _sha256(source: str) -> str:
    import base64
    import hashlib

    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode("utf-8")).digest()).decode("ascii") + "'"


def content_security_policy(page: str) -> str:
    """Nothing from outside: the inline <script> and <style> blocks by their hashes, requests to 'self'."""
    import re

    hashes: dict[str, list[str]] = {"script": [], "style": []}
    for tag, source in re.findall(r"<(script|style)>(.*?)</\1>", page, flags=re.DOTALL):
        hashes[tag].append(_sha256(source))
    return "; ".join(
        [
            "default-src 'none'",
            "script-src " + " ".join(hashes["script"] or ["'none'"]),
            "style-src " + " ".join(hashes["style"] or ["'none'"]),
            "connect-src 'self'",
            "img-src 'self' data:",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )


@cache
def page() -> tuple[str, dict[str, str | list[str]]]:
    """Read on the first request, not at import (`import app` stays quick)."""
    import html

    from chalicelib.program import load_program

    text = PAGE.read_text(encoding="utf-8").replace(
        TIMEZONE_PLACEHOLDER, html.escape(load_program().timezone, quote=True)
    )
    headers: dict[str, str | list[str]] = {
        "Content-Type": "text/html; charset=utf-8",
        "Content-Security-Policy": content_security_policy(text),
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
    }
    return text, headers


@blueprint.route("/ops", methods=["GET"])
def ops_page() -> Response:
    """The ops page: KPI cards and charts, tier and status distribution, stores (HTML; data from /kpis)."""
    body, headers = page()
    return Response(body=body, status_code=200, headers=dict(headers))
