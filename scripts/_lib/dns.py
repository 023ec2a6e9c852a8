"""A small stdlib DNS client (RFC 1035): one question, UDP with a timeout, TCP when truncated.

    answer = query("example.com", "MX", server="1.1.1.1")
    answer.rcode_name, [r.value for r in answer.answers]

Builds the query packet, checks the reply belongs to it (id, question), follows name
compression with loop and bounds checks, and decodes A, AAAA, CNAME, NS, PTR, MX, TXT, SOA,
SRV and CAA records (others come back as hex). No recursion of its own: it asks a recursive
resolver (the first `nameserver` of /etc/resolv.conf by default).
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import socket
import struct
import time
from dataclasses import dataclass, field
from typing import Any

TYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15, "TXT": 16, "AAAA": 28, "SRV": 33,
         "OPT": 41, "CAA": 257}
TYPE_NAMES = {v: k for k, v in TYPES.items()}
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}
CLASS_IN = 1
EDNS_UDP_SIZE = 1232  # the DNS flag day 2020 recommendation: no IP fragmentation
RESOLV_CONF = "/etc/resolv.conf"


class DNSError(Exception):
    """The reply was unusable (malformed, not ours) or the server could not be reached."""


class DNSTimeout(DNSError):
    """No reply in time."""


@dataclass
class Record:
    name: str
    type: str
    ttl: int
    value: str                      # presentation form: "10 mx1.example.com", '"v=spf1 -all"'
    data: dict[str, Any] = field(default_factory=dict)  # structured: preference/exchange, strings, …

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "ttl": self.ttl, "value": self.value, **self.data}


@dataclass
class Answer:
    name: str
    qtype: str
    server: str
    rcode: int
    transport: str = "udp"
    authoritative: bool = False
    truncated: bool = False
    answers: list[Record] = field(default_factory=list)
    authority: list[Record] = field(default_factory=list)
    elapsed_ms: float = 0.0

    @property
    def rcode_name(self) -> str:
        return RCODES.get(self.rcode, f"RCODE{self.rcode}")


# --- encoding ------------------------------------------------------------------------------------------

def encode_name(name: str) -> bytes:
    """'example.com' → wire labels. IDNs are punycoded. ValueError for names DNS cannot carry."""
    name = name.strip().rstrip(".")
    if not name:
        return b"\x00"
    out = b""
    for label in name.split("."):
        if not label:
            raise ValueError(f"{name!r} has an empty label")
        try:
            raw = label.encode("ascii")
        except UnicodeEncodeError:
            try:
                raw = label.encode("idna")
            except UnicodeError:
                raise ValueError(f"{label!r} is not a valid internationalised label") from None
        if len(raw) > 63:
            raise ValueError(f"label {label[:20]!r}… is longer than 63 bytes")
        out += bytes([len(raw)]) + raw
    if len(out) + 1 > 255:
        raise ValueError("name is longer than 255 bytes")
    return out + b"\x00"


def build_query(name: str, qtype: str | int, qid: int | None = None, *, recursion: bool = True,
                edns: bool = True) -> bytes:
    code = TYPES[qtype.upper()] if isinstance(qtype, str) else qtype
    qid = secrets.randbelow(1 << 16) if qid is None else qid
    flags = 0x0100 if recursion else 0
    header = struct.pack(">HHHHHH", qid, flags, 1, 0, 0, 1 if edns else 0)
    packet = header + encode_name(name) + struct.pack(">HH", code, CLASS_IN)
    if edns:  # OPT pseudo-record: root name, type 41, class = our UDP payload size
        packet += b"\x00" + struct.pack(">HHIH", TYPES["OPT"], EDNS_UDP_SIZE, 0, 0)
    return packet


# --- decoding ------------------------------------------------------------------------------------------

def decode_name(msg: bytes, pos: int) -> tuple[str, int]:
    """A (possibly compressed) name at `pos` → (dotted name, position after it in the record)."""
    labels: list[str] = []
    end = None
    jumps = 0
    while True:
        if pos >= len(msg):
            raise DNSError("name runs past the end of the message")
        length = msg[pos]
        if length & 0xC0 == 0xC0:
            if pos + 1 >= len(msg):
                raise DNSError("truncated compression pointer")
            target = ((length & 0x3F) << 8) | msg[pos + 1]
            if end is None:
                end = pos + 2
            jumps += 1
            if jumps > 64 or target >= len(msg):
                raise DNSError("bad compression pointer (loop or out of range)")
            pos = target
            continue
        if length & 0xC0:
            raise DNSError("unsupported label type")
        pos += 1
        if length == 0:
            break
        if pos + length > len(msg):
            raise DNSError("label runs past the end of the message")
        labels.append(msg[pos:pos + length].decode("ascii", "backslashreplace"))
        pos += length
        if sum(len(label) + 1 for label in labels) > 255:
            raise DNSError("name longer than 255 bytes")
    return ".".join(labels) or ".", end if end is not None else pos


def _character_strings(rdata: bytes) -> list[str]:
    out, pos = [], 0
    while pos < len(rdata):
        length = rdata[pos]
        if pos + 1 + length > len(rdata):
            raise DNSError("TXT string runs past its record")
        out.append(rdata[pos + 1:pos + 1 + length].decode("utf-8", "replace"))
        pos += 1 + length
    return out


def _rdata(msg: bytes, rtype: int, start: int, length: int) -> tuple[str, dict[str, Any]]:
    rdata = msg[start:start + length]
    kind = TYPE_NAMES.get(rtype)
    if kind == "A" and length == 4:
        return str(ipaddress.IPv4Address(rdata)), {}
    if kind == "AAAA" and length == 16:
        return str(ipaddress.IPv6Address(rdata)), {}
    if kind in ("CNAME", "NS", "PTR"):
        target, _ = decode_name(msg, start)
        return target, {"target": target}
    if kind == "MX" and length >= 3:
        preference = struct.unpack(">H", rdata[:2])[0]
        exchange, _ = decode_name(msg, start + 2)
        return f"{preference} {exchange}", {"preference": preference, "exchange": exchange}
    if kind == "TXT":
        strings = _character_strings(rdata)
        return " ".join('"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"' for s in strings), \
            {"strings": strings, "text": "".join(strings)}
    if kind == "SOA":
        mname, pos = decode_name(msg, start)
        rname, pos = decode_name(msg, pos)
        if pos + 20 > start + length:
            raise DNSError("SOA record too short")
        serial, refresh, retry, expire, minimum = struct.unpack(">IIIII", msg[pos:pos + 20])
        return f"{mname} {rname} {serial} {refresh} {retry} {expire} {minimum}", \
            {"mname": mname, "rname": rname, "serial": serial, "minimum": minimum}
    if kind == "SRV" and length >= 7:
        priority, weight, port = struct.unpack(">HHH", rdata[:6])
        target, _ = decode_name(msg, start + 6)
        return f"{priority} {weight} {port} {target}", \
            {"priority": priority, "weight": weight, "port": port, "target": target}
    if kind == "CAA" and length >= 2:
        flags, tag_len = rdata[0], rdata[1]
        tag = rdata[2:2 + tag_len].decode("ascii", "replace")
        value = rdata[2 + tag_len:].decode("utf-8", "replace")
        return f'{flags} {tag} "{value}"', {"flags": flags, "tag": tag, "value": value}
    return f"\\# {length} {rdata.hex()}", {}


def _records(msg: bytes, pos: int, count: int) -> tuple[list[Record], int]:
    records = []
    for _ in range(count):
        name, pos = decode_name(msg, pos)
        if pos + 10 > len(msg):
            raise DNSError("record header runs past the end of the message")
        rtype, _rclass, ttl, length = struct.unpack(">HHIH", msg[pos:pos + 10])
        pos += 10
        if pos + length > len(msg):
            raise DNSError("record data runs past the end of the message")
        if rtype != TYPES["OPT"]:
            value, data = _rdata(msg, rtype, pos, length)
            records.append(Record(name, TYPE_NAMES.get(rtype, f"TYPE{rtype}"), ttl, value, data))
        pos += length
    return records, pos


def parse_response(msg: bytes, qid: int, name: str, qtype: str) -> Answer:
    """Check the reply answers our question and decode it. DNSError when it does not."""
    if len(msg) < 12:
        raise DNSError("reply shorter than a DNS header")
    rid, flags, qdcount, ancount, nscount, _arcount = struct.unpack(">HHHHHH", msg[:12])
    if rid != qid:
        raise DNSError("reply id does not match the query")
    if not flags & 0x8000:
        raise DNSError("not a reply (QR bit clear)")
    answer = Answer(name=name.rstrip(".") or ".", qtype=qtype.upper(), server="", rcode=flags & 0x000F,
                    authoritative=bool(flags & 0x0400), truncated=bool(flags & 0x0200))
    pos = 12
    for _ in range(qdcount):
        qname, pos = decode_name(msg, pos)
        if pos + 4 > len(msg):
            raise DNSError("question runs past the end of the message")
        rtype = struct.unpack(">H", msg[pos:pos + 2])[0]
        pos += 4
        if qname.lower().rstrip(".") != answer.name.lower().rstrip(".") or rtype != TYPES[answer.qtype]:
            raise DNSError(f"reply is for a different question ({qname} {TYPE_NAMES.get(rtype, rtype)})")
    if answer.truncated:
        return answer  # the caller retries over TCP; a partial answer section may not even parse
    answer.answers, pos = _records(msg, pos, ancount)
    answer.authority, pos = _records(msg, pos, nscount)
    return answer


# --- transport -----------------------------------------------------------------------------------------

def _address(server: str, port: int, kind: int) -> tuple[int, Any]:
    try:
        family, _, _, _, sockaddr = socket.getaddrinfo(server, port, type=kind)[0]
    except socket.gaierror as exc:
        raise DNSError(f"cannot resolve DNS server {server!r}: {exc.strerror or exc}") from None
    return family, sockaddr


def _udp(packet: bytes, server: str, port: int, deadline: float, qid: int, name: str, qtype: str) -> Answer:
    family, sockaddr = _address(server, port, socket.SOCK_DGRAM)
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.connect(sockaddr)  # only replies from that address reach us
        sock.send(packet)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DNSTimeout("no reply")
            sock.settimeout(remaining)
            try:
                reply = sock.recv(65535)
            except TimeoutError:
                raise DNSTimeout("no reply") from None
            except ConnectionRefusedError:
                raise DNSError("nothing listening (ICMP port unreachable)") from None
            try:
                return parse_response(reply, qid, name, qtype)
            except DNSError:
                if len(reply) >= 2 and struct.unpack(">H", reply[:2])[0] != qid:
                    continue  # a stray or late reply to someone else's query: keep waiting
                raise


def _recv_exactly(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise DNSError("server closed the TCP connection early")
        data += chunk
    return data


def _tcp(packet: bytes, server: str, port: int, deadline: float, qid: int, name: str, qtype: str) -> Answer:
    family, sockaddr = _address(server, port, socket.SOCK_STREAM)
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise DNSTimeout("no reply")
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.settimeout(remaining)
            sock.connect(sockaddr)
            sock.sendall(struct.pack(">H", len(packet)) + packet)
            length = struct.unpack(">H", _recv_exactly(sock, 2))[0]
            reply = _recv_exactly(sock, length)
    except TimeoutError:
        raise DNSTimeout("no reply over TCP") from None
    except OSError as exc:
        raise DNSError(f"TCP: {exc.strerror or exc}") from None
    return parse_response(reply, qid, name, qtype)


def query(name: str, qtype: str = "A", server: str | None = None, port: int = 53, *, timeout: float = 3.0,
          tcp: bool = False, tcp_fallback: bool = True, attempts: int = 2) -> Answer:
    """Ask `server` (default: the system's first nameserver) one question. UDP first, split into
    `attempts` sends within `timeout` (UDP drops packets); TCP when the reply is truncated."""
    qtype = qtype.upper()
    if qtype not in TYPES or qtype == "OPT":
        raise ValueError(f"unsupported record type {qtype!r}")
    server = server or system_nameserver()
    if not server:
        raise DNSError("no DNS server configured (no nameserver in /etc/resolv.conf)")
    started = time.monotonic()
    deadline = started + timeout
    qid = secrets.randbelow(1 << 16)
    packet = build_query(name, qtype, qid)
    answer = None
    if not tcp:
        for attempt in range(max(attempts, 1)):
            slot = started + timeout * (attempt + 1) / max(attempts, 1)
            try:
                answer = _udp(packet, server, port, min(slot, deadline), qid, name, qtype)
                break
            except DNSTimeout:
                if attempt + 1 >= max(attempts, 1):
                    raise DNSTimeout(f"no reply from {server}:{port} within {timeout:g}s") from None
        if answer is not None and answer.rcode == 1 and deadline > time.monotonic():
            # FORMERR: an old server that does not understand EDNS. Ask again the 1987 way.
            packet = build_query(name, qtype, qid, edns=False)
            try:
                answer = _udp(packet, server, port, deadline, qid, name, qtype)
            except DNSTimeout:
                raise DNSTimeout(f"no reply from {server}:{port} within {timeout:g}s") from None
    if answer is None or (answer.truncated and tcp_fallback):
        answer = _tcp(packet, server, port, max(deadline, time.monotonic() + timeout / 2), qid, name, qtype)
        answer.transport = "tcp"
    answer.server = f"{server}:{port}" if port != 53 else server
    answer.elapsed_ms = round((time.monotonic() - started) * 1000, 1)
    return answer


def system_nameserver(path: str | None = None) -> str | None:
    """The first `nameserver` of resolv.conf ($OPSBOT_RESOLV_CONF in tests), or None."""
    path = path or os.environ.get("OPSBOT_RESOLV_CONF") or RESOLV_CONF
    try:
        with open(path) as fh:
            for line in fh:
                parts = line.split("#", 1)[0].split(";", 1)[0].split()
                if len(parts) >= 2 and parts[0] == "nameserver":
                    return parts[1]
    except OSError:
        return None
    return None
