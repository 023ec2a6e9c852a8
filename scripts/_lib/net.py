"""Network helpers for the local ops checks: host[:port] parsing, TCP connect classification,
TLS handshakes and a small X.509 (DER) reader.

Why a DER reader of our own: `ssl.getpeercert()` only decodes a certificate that was *verified*,
and the stdlib's decoder for any other (`ssl._ssl._test_decode_cert`) is private, test-only and
wants a PEM file on disk. Expiry checks matter most exactly where verification fails
(self-signed, internal CA, already expired), so we read the handful of fields we need —
validity, subject, issuer, SANs, serial — straight from the DER bytes (about 100 lines,
bounds-checked, tested against the stdlib decoder).
"""

from __future__ import annotations

import datetime as dt
import errno
import hashlib
import ipaddress
import re
import socket
import ssl
import time
from dataclasses import dataclass, field
from typing import Any

HOST_RE = re.compile(r"^(?=.{1,253}$)(?!-)[A-Za-z0-9_-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9_-]{1,63}(?<!-))*\.?$")


def is_host(text: str) -> bool:
    """A host name or an IP address (what the registry's `host` type accepts, plus `_` labels)."""
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return bool(HOST_RE.match(text))


def split_host_port(text: str, default_port: int | None = None) -> tuple[str, int | None]:
    """'host', 'host:53', '[2001:db8::1]:53', '2001:db8::1' → (host, port). ValueError when malformed."""
    text = text.strip()
    match = re.fullmatch(r"\[([0-9A-Fa-f:.%\w]+)\](?::(\d+))?", text)
    if match:
        host, port = match.group(1), match.group(2)
    elif text.count(":") == 1:
        host, port = text.split(":")
    else:  # a bare name, IPv4, or a bare IPv6 address (several colons, no port)
        host, port = text, None
    if not host or not is_host(host.split("%")[0]):
        raise ValueError(f"{text!r} is not a host name or IP address")
    if port is None:
        return host, default_port
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"port {port!r} must be 1–65535")
    return host, int(port)


def format_host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# --- TCP connect ---------------------------------------------------------------------------------------

@dataclass
class Probe:
    """The outcome of one TCP connect: open | closed | filtered | unreachable | unresolved."""

    state: str
    address: str | None = None
    ms: float | None = None
    detail: str = ""


def connect_error_state(exc: BaseException) -> tuple[str, str]:
    """Classify a failed connect: (state, human detail)."""
    if isinstance(exc, socket.gaierror):
        return "unresolved", f"cannot resolve host ({exc.strerror or exc})"
    if isinstance(exc, TimeoutError):
        return "filtered", "no answer (timed out: filtered or host down)"
    if isinstance(exc, ConnectionRefusedError):
        return "closed", "connection refused"
    if isinstance(exc, OSError) and exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EADDRNOTAVAIL):
        return "unreachable", exc.strerror or str(exc)
    if isinstance(exc, OSError):
        return "error", exc.strerror or str(exc)
    return "error", str(exc)


def resolve(host: str, port: int, limit: int = 4) -> list[tuple[int, Any]]:
    """(family, sockaddr) pairs for TCP, IPv4/IPv6 in resolver order. Raises socket.gaierror."""
    seen, out = set(), []
    for family, _, _, _, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        if sockaddr[0] not in seen:
            seen.add(sockaddr[0])
            out.append((family, sockaddr))
    return out[:limit]


def tcp_probe(family: int, sockaddr: Any, timeout: float) -> Probe:
    started = time.perf_counter()
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(sockaddr)
        return Probe("open", sockaddr[0], round((time.perf_counter() - started) * 1000, 1), "accepted")
    except OSError as exc:
        state, detail = connect_error_state(exc)
        elapsed = round((time.perf_counter() - started) * 1000, 1)
        return Probe(state, sockaddr[0], elapsed, detail)
    finally:
        sock.close()


# --- TLS -----------------------------------------------------------------------------------------------

def insecure_context() -> ssl.SSLContext:
    """A client context that completes the handshake with any certificate (we still read it)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def verify_reason(exc: ssl.SSLCertVerificationError) -> str:
    return getattr(exc, "verify_message", None) or getattr(exc, "reason", None) or str(exc)


@dataclass
class TLSInfo:
    protocol: str | None
    cipher: str | None
    der: bytes
    verified: bool | None  # None: verification was skipped (--insecure)
    verify_error: str | None = None
    cert: dict[str, Any] = field(default_factory=dict)


def tls_handshake(host: str, port: int, timeout: float, *, verify: bool,
                  server_name: str | None = None) -> TLSInfo:
    """One TCP connect + TLS handshake. Raises OSError / ssl.SSLError (incl. verification errors)."""
    ctx = ssl.create_default_context() if verify else insecure_context()
    with socket.create_connection((host, port), timeout=timeout) as raw, \
            ctx.wrap_socket(raw, server_hostname=server_name or host) as tls:
        der = tls.getpeercert(binary_form=True) or b""
        cipher = tls.cipher()
        return TLSInfo(tls.version(), cipher[0] if cipher else None, der, True if verify else None,
                       cert=decode_cert(der) if der else {})


def fetch_certificate(host: str, port: int, timeout: float, *, insecure: bool = False) -> TLSInfo:
    """The server's certificate, trusted or not. Verifies first (system CAs, or $SSL_CERT_FILE) unless
    `insecure`; when verification fails, reconnects without it so the dates can still be reported."""
    if insecure:
        return tls_handshake(host, port, timeout, verify=False)
    started = time.monotonic()
    try:
        return tls_handshake(host, port, timeout, verify=True)
    except ssl.SSLCertVerificationError as exc:
        # The second handshake shares the time budget (the server already answered once).
        remaining = max(timeout - (time.monotonic() - started), min(timeout, 1.0))
        info = tls_handshake(host, port, remaining, verify=False)
        info.verified, info.verify_error = False, verify_reason(exc)
        return info


# --- X.509 DER -----------------------------------------------------------------------------------------

class CertError(ValueError):
    """The bytes are not a certificate we can read."""


OID_NAMES = {
    "2.5.4.3": "CN", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.10": "O", "2.5.4.11": "OU",
    "2.5.4.5": "serialNumber", "1.2.840.113549.1.9.1": "emailAddress", "0.9.2342.19200300.100.1.25": "DC",
    "2.5.4.97": "organizationIdentifier",
}
OID_SAN = "2.5.29.17"


def _tlv(data: bytes, pos: int) -> tuple[int, bytes, int]:
    """(tag, value, next position) of the DER element at `pos`."""
    if pos + 2 > len(data):
        raise CertError("truncated DER")
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise CertError("high tag numbers are not used in certificates")
    length, pos = data[pos + 1], pos + 2
    if length & 0x80:
        count = length & 0x7F
        if not 1 <= count <= 4 or pos + count > len(data):
            raise CertError("bad DER length")
        length, pos = int.from_bytes(data[pos:pos + count], "big"), pos + count
    end = pos + length
    if end > len(data):
        raise CertError("truncated DER")
    return tag, data[pos:end], end


def _items(data: bytes) -> list[tuple[int, bytes]]:
    out, pos = [], 0
    while pos < len(data):
        tag, value, pos = _tlv(data, pos)
        out.append((tag, value))
    return out


def _oid(value: bytes) -> str:
    if not value:
        raise CertError("empty OID")
    parts = [min(value[0] // 40, 2), value[0] - 40 * min(value[0] // 40, 2)]
    n = 0
    for byte in value[1:]:
        n = (n << 7) | (byte & 0x7F)
        if not byte & 0x80:
            parts.append(n)
            n = 0
    return ".".join(map(str, parts))


def _string(tag: int, value: bytes) -> str:
    if tag == 0x1E:
        return value.decode("utf-16-be", "replace")
    if tag == 0x1C:
        return value.decode("utf-32-be", "replace")
    if tag == 0x14:
        return value.decode("latin-1")
    return value.decode("utf-8", "replace")


def _name(value: bytes) -> list[tuple[str, str]]:
    """X.501 Name → [(short attribute name, value)] in certificate order."""
    out = []
    for _, rdn in _items(value):
        for _, attribute in _items(rdn):
            parts = _items(attribute)
            if len(parts) >= 2 and parts[0][0] == 0x06:
                oid = _oid(parts[0][1])
                out.append((OID_NAMES.get(oid, oid), _string(*parts[1])))
    return out


def _time(tag: int, value: bytes) -> dt.datetime:
    text = value.decode("ascii", "replace")
    try:
        if tag == 0x17:  # UTCTime: YYMMDDHHMM[SS]Z, years 50–99 are 19xx
            fmt = "%y%m%d%H%M%SZ" if len(text) == 13 else "%y%m%d%H%MZ"
            moment = dt.datetime.strptime(text, fmt)
            if moment.year >= 2050:
                moment = moment.replace(year=moment.year - 100)
        elif tag == 0x18:  # GeneralizedTime: YYYYMMDDHHMMSS[.fff]Z
            moment = dt.datetime.strptime(text.split(".")[0].rstrip("Z"), "%Y%m%d%H%M%S")
        else:
            raise CertError(f"unexpected time tag {tag:#x}")
    except ValueError:
        raise CertError(f"unreadable certificate time {text!r}") from None
    return moment.replace(tzinfo=dt.UTC)


def _sans(extension_value: bytes) -> list[str]:
    out = []
    _, general_names, _ = _tlv(extension_value, 0)
    for tag, value in _items(general_names):
        kind = tag & 0x1F
        if kind == 2:
            out.append("DNS:" + value.decode("ascii", "replace"))
        elif kind == 7 and len(value) in (4, 16):
            out.append("IP:" + str(ipaddress.ip_address(value)))
        elif kind == 1:
            out.append("email:" + value.decode("ascii", "replace"))
        elif kind == 6:
            out.append("URI:" + value.decode("ascii", "replace"))
    return out


def decode_cert(der: bytes) -> dict[str, Any]:
    """The fields an expiry check needs from a DER certificate (verified or not)."""
    try:
        _, certificate, _ = _tlv(der, 0)
        _, tbs, _ = _tlv(certificate, 0)
        fields = _items(tbs)
        if fields and fields[0][0] == 0xA0:  # [0] EXPLICIT version
            version = int.from_bytes(_tlv(fields[0][1], 0)[1], "big") + 1
            fields = fields[1:]
        else:
            version = 1
        if len(fields) < 6:
            raise CertError("not an X.509 certificate")
        serial, _, issuer, validity, subject = fields[0][1], fields[1], fields[2][1], fields[3][1], fields[4][1]
        times = _items(validity)
        if len(times) != 2:
            raise CertError("bad validity")
        sans: list[str] = []
        for tag, value in fields[6:]:
            if tag != 0xA3:  # [3] EXPLICIT extensions
                continue
            _, extensions, _ = _tlv(value, 0)
            for _, extension in _items(extensions):
                parts = _items(extension)
                if parts and parts[0][0] == 0x06 and _oid(parts[0][1]) == OID_SAN:
                    sans = _sans(parts[-1][1])
    except (IndexError, UnicodeError, ValueError) as exc:
        if isinstance(exc, CertError):
            raise
        raise CertError(f"unreadable certificate: {exc}") from None
    subject_attrs, issuer_attrs = _name(subject), _name(issuer)
    return {
        "version": version,
        "serial": serial.hex().lstrip("0").upper() or "0",
        "subject": dict(subject_attrs),
        "issuer": dict(issuer_attrs),
        "subject_text": ", ".join(f"{k}={v}" for k, v in subject_attrs),
        "issuer_text": ", ".join(f"{k}={v}" for k, v in issuer_attrs),
        "self_issued": subject == issuer,
        "not_before": _time(*times[0]),
        "not_after": _time(*times[1]),
        "sans": sans,
        "sha256": hashlib.sha256(der).hexdigest(),
    }


def days_left(not_after: dt.datetime, now: dt.datetime | None = None) -> float:
    now = now or dt.datetime.now(dt.UTC)
    return (not_after - now).total_seconds() / 86400
