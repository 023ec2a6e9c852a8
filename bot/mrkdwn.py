"""Slack-safe text: untrusted text (script output, model output, echoed user text, upstream error bodies)
cannot ping people or disguise links, and terminal escape sequences never reach anyone.

In Slack mrkdwn only `<…>` is markup that acts — `<!channel>`, `<!here>`, `<@U…>`, `<#C…>`, links
`<url|label>` — and `&amp;`, `&lt;`, `&gt;` are the only entities. `sanitize` escapes `&`, `<` and `>`
except:
* entities that are already there (scripts escape what they quote from upstream APIs: no `&amp;lt;`);
* an honest link: `<http(s)://…>` or `<mailto:…>`, whose label (if any) is not itself a URL or a host
  name other than the link's own. `<https://evil.example|https://acme.slack.com/sso>` is escaped and so
  shows what it is. Scripts keep their links to the issues and runs they list.
The bot's own formatting (its mentions of the requester, code fences, bold) is added around sanitized
text, never passed through it. `sanitize` is idempotent.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import urlsplit

# CSI (ESC [ … final byte), OSC (ESC ] … BEL or ST), and two-byte escapes; the 8-bit CSI form too.
_ANSI_RE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]|\x9b[0-?]*[ -/]*[@-~]")
_ENTITY_RE = re.compile(r"&(?:amp|lt|gt);")
_ANGLED_RE = re.compile(r"<([^<>\n]*)>")
_HOST_RE = re.compile(r"(?i)\b((?:[a-z0-9-]+\.)+[a-z]{2,})\b")


def strip_ansi(text: str) -> str:
    return _ANSI_RE.sub("", text) if ("\x1b" in text or "\x9b" in text) else text


def escape(text: str) -> str:
    """Plain text → mrkdwn that shows exactly this text (existing entities kept)."""
    out, pos = [], 0
    for m in _ENTITY_RE.finditer(text):
        out.append(_escape_plain(text[pos:m.start()]))
        out.append(m.group())
        pos = m.end()
    out.append(_escape_plain(text[pos:]))
    return "".join(out)


def _escape_plain(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# Look-alikes a label can use to show a host name Slack will not parse as one: other full stops, and
# characters that render as nothing. NFKC already folds full-width forms (`．`, `：／／`).
_DOTS = str.maketrans({"。": ".", "｡": ".", "︒": ".", "﹒": ".", "·": ".", "․": "."})
_INVISIBLE_RE = re.compile("[\u00ad\u200b-\u200f\u2060-\u2064\ufeff]")


def _as_read(label: str) -> str:
    """The label as a reader sees it: look-alike dots as dots, invisible characters gone."""
    return _INVISIBLE_RE.sub("", unicodedata.normalize("NFKC", label)).translate(_DOTS)


def _honest_link(inner: str) -> bool:
    url, _, label = inner.partition("|")
    label = _as_read(label)
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    if parts.scheme == "mailto":
        return "@" in url and (not label or label.strip() == url.removeprefix("mailto:"))
    if parts.scheme not in ("http", "https") or not parts.hostname or " " in url:
        return False
    if not label:
        return True
    if "://" in label or "@" in label:
        return False
    host = parts.hostname.lower()
    return all(h.lower() == host or host.endswith("." + h.lower()) for h in _HOST_RE.findall(label))


def sanitize(text: str | None) -> str:
    """Untrusted text → mrkdwn that can show links but cannot mention, broadcast or disguise."""
    if not text:
        return text or ""
    text = strip_ansi(text)
    out, pos = [], 0
    for m in _ANGLED_RE.finditer(text):
        if _honest_link(m.group(1)):
            out.append(escape(text[pos:m.start()]))
            out.append("<" + m.group(1).replace("&", "&amp;").replace("&amp;amp;", "&amp;") + ">")
            pos = m.end()
    out.append(escape(text[pos:]))
    return "".join(out)


def for_terminal(text: str | None) -> str:
    """mrkdwn → what a terminal should show: entities decoded, escape sequences gone."""
    if not text:
        return text or ""
    if "&" in text:
        text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return strip_ansi(text)
