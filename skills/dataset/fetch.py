"""Fetch a web page as plain text for Q&A synthesis: only from allowed hosts, only text, only so many bytes.

The host allow list (datasets.allowed_hosts) is empty by default, so no URL is fetched until the config names
its host; redirects are followed by hand (at most MAX_REDIRECTS) so that every hop is checked against it.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urlsplit

import httpx

from config.errors import UsageError

ALLOWED_TYPES = frozenset({"text/html", "text/plain", "text/markdown"})
MAX_REDIRECTS = 3


class FetchRefused(UsageError):
    """A URL was not fetched (host not allowed, wrong type, too large, unreachable); the message says why."""


def is_url(source: str) -> bool:
    """True when a source names a web address rather than a file."""
    return source.startswith(("http://", "https://"))


def host_allowed(url: str, allowed_hosts: list[str]) -> bool:
    """True when the URL's host is one of `allowed_hosts` or a subdomain of one (ports are not compared)."""
    host = (urlsplit(url).hostname or "").lower()
    names = [name.strip().lower().lstrip(".") for name in allowed_hosts if name.strip()]
    return bool(host) and any(host == name or host.endswith("." + name) for name in names)


def fetch_text(url: str, *, allowed_hosts: list[str], max_bytes: int, timeout_s: float) -> str:
    """The text of a page (HTML stripped to its words); raises FetchRefused with one sentence."""
    try:
        with httpx.Client(timeout=timeout_s, follow_redirects=False) as client:
            for _ in range(MAX_REDIRECTS + 1):
                _check_host(url, allowed_hosts)
                with client.stream("GET", url, headers={"Accept": ", ".join(sorted(ALLOWED_TYPES))}) as response:
                    if response.is_redirect and "location" in response.headers:
                        url = str(response.url.join(response.headers["location"]))
                        continue
                    return _read_text(url, response, max_bytes)
    except httpx.HTTPError as exc:
        raise FetchRefused(f"{url} could not be fetched ({type(exc).__name__}); check the address and that the "
                           "server answers.") from None
    raise FetchRefused(f"{url} redirects more than {MAX_REDIRECTS} times; give the final address.")


def _check_host(url: str, allowed_hosts: list[str]) -> None:
    if urlsplit(url).scheme not in ("http", "https"):
        raise FetchRefused(f"{url} is not an http(s) address; only web pages and local files can be sources.")
    if not host_allowed(url, allowed_hosts):
        host = urlsplit(url).hostname or url
        raise FetchRefused(f"{url} was not fetched: its host {host} is not in datasets.allowed_hosts "
                           f"({', '.join(allowed_hosts) or 'empty, so no URL is fetched'}); add it in selftune.toml "
                           "or save the page as a file.")


def _read_text(url: str, response: httpx.Response, max_bytes: int) -> str:
    """The body as text, refused when the status, the content type or the size is wrong."""
    if response.status_code >= 400:
        raise FetchRefused(f"{url} answered HTTP {response.status_code}; check the address.")
    kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in ALLOWED_TYPES:
        raise FetchRefused(f"{url} is {kind or 'of no stated type'}, not text; only "
                           f"{', '.join(sorted(ALLOWED_TYPES))} pages are read.")
    too_big = FetchRefused(f"{url} is larger than {max_bytes:,} bytes (datasets.fetch_max_bytes); "
                           "save the part you need as a file.")
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise too_big
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > max_bytes:
            raise too_big
    text = body.decode(response.charset_encoding or "utf-8", errors="replace")
    return html_to_text(text) if kind == "text/html" else text


class _TextOnly(HTMLParser):
    """Collects the visible text of a page; block elements become paragraph breaks."""

    SKIP = frozenset({"script", "style", "noscript", "template", "svg", "head", "nav", "footer"})
    BLOCK = frozenset({"p", "div", "br", "li", "tr", "section", "article", "main", "pre", "blockquote", "table",
                       "ul", "ol", "dl", "dt", "dd", "header", "h1", "h2", "h3", "h4", "h5", "h6", "hr"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:  # noqa: ARG002 - HTMLParser API
        if tag in self.SKIP:
            self.hidden += 1
        elif tag in self.BLOCK:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self.hidden = max(0, self.hidden - 1)
        elif tag in self.BLOCK:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """The readable text of an HTML page: no scripts, styles or navigation; paragraphs kept apart."""
    parser = _TextOnly()
    parser.feed(html)
    parser.close()
    lines = (re.sub(r"\s+", " ", line).strip() for line in "".join(parser.parts).split("\n"))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
