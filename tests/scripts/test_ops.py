"""The local ops scripts against local servers only: HTTP(S) on 127.0.0.1 (redirects, a 500, a
self-signed certificate made with the `openssl` CLI), a fake DNS server (UDP + TCP), open/closed
ports and a fake /proc. Nothing leaves 127.0.0.1."""

from __future__ import annotations

import http.server
import json
import os
import re
import runpy
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.scripts.harness import SCRIPTS, run_script

if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))

from _lib.dns import DNSError, build_query, decode_name, parse_response, system_nameserver  # noqa: E402
from _lib.net import CertError, decode_cert, split_host_port  # noqa: E402

OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="the openssl CLI makes the test certificates")


def run_inproc(name: str, *argv: str, capsys) -> tuple[int, str, str]:
    """Run a script in this process (for the many bad-input cases: fast, same code path as a
    subprocess up to the exit code). Behaviour tests use `run_script`, a real subprocess."""
    service, action = name.split(".", 1)
    old_argv = sys.argv
    sys.argv = [name, *argv]
    try:
        runpy.run_path(str(SCRIPTS / service / action), run_name="__main__")
        code = 0
    except SystemExit as exc:
        code = exc.code
    finally:
        sys.argv = old_argv
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- certificates ---------------------------------------------------------------------------------------


def _make_cert(directory: Path, name: str, days: int, cn: str = "localhost") -> tuple[Path, Path]:
    key, cert = directory / f"{name}.key", directory / f"{name}.pem"
    subprocess.run(  # noqa: S603 - fixed argv
        [OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", str(days), "-subj", f"/O=Opsbot Test/CN={cn}",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True, timeout=20)
    return cert, key


def _backdate(cert: Path, out: Path) -> Path:
    """The same certificate with its validity moved to 2020–2021 (UTCTime bytes patched in place).
    The signature no longer matches, which only a verifying client notices — exactly the case
    the script must still report dates for."""
    der = bytearray(ssl.PEM_cert_to_DER_cert(cert.read_text()))
    at = der.find(b"\x30\x1e\x17\x0d")
    assert at > 0, "validity not found"
    der[at + 4:at + 17] = b"200101000000Z"
    der[at + 19:at + 32] = b"210101000000Z"
    out.write_text(ssl.DER_cert_to_PEM_cert(bytes(der)))
    return out


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    if OPENSSL is None:
        pytest.skip("no openssl CLI")
    directory = tmp_path_factory.mktemp("certs")
    soon, soon_key = _make_cert(directory, "soon", days=5)
    far, _ = _make_cert(directory, "far", days=12000)  # notAfter past 2050: GeneralizedTime
    expired = _backdate(soon, directory / "expired.pem")
    return {"soon": (soon, soon_key), "far": far, "expired": (expired, soon_key)}


# --- HTTP(S) servers ------------------------------------------------------------------------------------


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    other = ""  # base URL of the other server, for cross-scheme redirects
    release = threading.Event()  # /slow answers only once the fixture is torn down

    def log_message(self, *args):
        pass

    def _send(self, status, body=b"", headers=None, length=True):
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if length:
            self.send_header("Content-Length", str(len(body)))
        else:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):  # noqa: N802
        path = self.path
        if path == "/ok":
            self._send(200, b"hello world")
        elif path.startswith("/hop"):  # /hop3 → /hop2 → /hop1 → /ok (relative and absolute Locations)
            n = int(path[4:])
            target = "/ok" if n <= 1 else (f"/hop{n - 1}" if n % 2 else f"{self.other_self}/hop{n - 1}")
            self._send(302 if n % 2 else 301, headers={"Location": target})
        elif path == "/to-https":
            self._send(308, headers={"Location": f"{self.other}/ok"})
        elif path == "/loop":
            self._send(301, headers={"Location": "/loop"})
        elif path == "/ftp":
            self._send(302, headers={"Location": "ftp://files.invalid/x"})
        elif path == "/err":
            self._send(500, b"Internal error page")
        elif path == "/nolen":
            self._send(200, b"x" * 5000, length=False)
        elif path == "/auth":
            self._send(401, b"login")
        elif path == "/slow":  # no answer while the test runs: whatever the client's timeout, it fires
            self.release.wait(30)
            self._send(200, b"late")
        else:
            self._send(404, b"not found")

    @property
    def other_self(self):
        return f"http{'s' if isinstance(self.connection, ssl.SSLSocket) else ''}://127.0.0.1:{self.server.server_port}"


def _serve(server):
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    return server


@pytest.fixture(scope="module")
def web(certs):
    plain = _serve(http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler))
    secure = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(*map(str, certs["soon"]))
    secure.socket = ctx.wrap_socket(secure.socket, server_side=True)
    _serve(secure)
    expired = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx2 = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx2.load_cert_chain(*map(str, certs["expired"]))
    expired.socket = ctx2.wrap_socket(expired.socket, server_side=True)
    _serve(expired)
    urls = {"http": f"http://127.0.0.1:{plain.server_port}", "https": f"https://127.0.0.1:{secure.server_port}",
            "https_port": secure.server_port, "expired_port": expired.server_port,
            "http_port": plain.server_port}
    Handler.other = urls["https"]
    Handler.release.clear()
    yield urls
    Handler.release.set()
    for server in (plain, secure, expired):
        server.shutdown()
        server.server_close()


# --- http-check -----------------------------------------------------------------------------------------


def test_http_check_up(web):
    result = run_script("ops.http-check", "--url", f"{web['http']}/ok")
    assert result.code == 0, result.stderr
    assert result.stdout.startswith(f"✅ *UP* — {web['http']}/ok → *200 OK* in ")
    assert "• size: 11 B" in result.stdout
    data = run_script("ops.http-check", "--url", f"{web['http']}/ok", "--json").json()
    assert data["up"] is True and data["status"] == 200 and data["redirects"] == 0
    assert data["content_length"] == 11 and data["content_length_source"] == "header"
    assert data["latency_ms"] > 0 and data["tls"] is None


def test_http_check_lists_every_redirect_hop(web):
    data = run_script("ops.http-check", "--url", f"{web['http']}/hop3", "--json").json()
    assert data["up"] is True and data["redirects"] == 3
    assert [h["status"] for h in data["hops"]] == [302, 301, 302, 200]
    assert [h["url"].removeprefix(web["http"]) for h in data["hops"]] == ["/hop3", "/hop2", "/hop1", "/ok"]
    assert data["final_url"] == f"{web['http']}/ok"
    text = run_script("ops.http-check", "--url", f"{web['http']}/hop3").stdout
    assert "• 3 redirects:" in text and f"1. 302 {web['http']}/hop3 → {web['http']}/hop2" in text
    assert f"• final URL: {web['http']}/ok" in text


def test_http_check_500_is_down_but_exit_0(web):
    result = run_script("ops.http-check", "--url", f"{web['http']}/err")
    assert result.code == 0
    assert result.stdout.startswith(f"❌ *DOWN* — {web['http']}/err: HTTP 500 Internal Server Error")
    data = run_script("ops.http-check", "--url", f"{web['http']}/err", "--json").json()
    assert data["up"] is False and data["status"] == 500 and data["reason"].startswith("HTTP 500")


def test_http_check_expect_status(web):
    data = run_script("ops.http-check", "--url", f"{web['http']}/auth", "--expect-status", "401", "--json").json()
    assert data["up"] is True and data["status"] == 401
    data = run_script("ops.http-check", "--url", f"{web['http']}/ok", "--expect-status", "204", "--json").json()
    assert data["up"] is False and data["reason"] == "HTTP 200 OK (expected 204)"
    # A 3xx expectation checks the first answer without following it.
    result = run_script("ops.http-check", "--url", f"{web['http']}/hop1", "--expect-status", "302")
    assert result.stdout.startswith("✅ *UP*") and "not followed" in result.stdout


def test_http_check_redirect_loop_and_bad_scheme_are_down(web):
    data = run_script("ops.http-check", "--url", f"{web['http']}/loop", "--json").json()
    assert data["up"] is False and data["reason"] == "too many redirects (more than 10)"
    assert len(data["hops"]) == 11
    text = run_script("ops.http-check", "--url", f"{web['http']}/loop").stdout
    assert "…and 6 more" in text
    data = run_script("ops.http-check", "--url", f"{web['http']}/ftp", "--json").json()
    assert data["up"] is False and "non-HTTP URL: ftp://files.invalid/x" in data["reason"]


def test_http_check_unreachable_is_a_result_not_a_crash():
    result = run_script("ops.http-check", "--url", f"http://127.0.0.1:{_free_port()}/")
    assert result.code == 0 and result.stderr == ""
    assert "❌ *DOWN*" in result.stdout and "connection refused" in result.stdout


def test_http_check_timeout_is_down(web):
    data = run_script("ops.http-check", "--url", f"{web['http']}/slow", "--timeout", "0.25", "--json").json()
    assert data["up"] is False and data["reason"] == "timed out after 0.25s"


def test_http_check_measures_body_without_content_length(web):
    data = run_script("ops.http-check", "--url", f"{web['http']}/nolen", "--json").json()
    assert data["content_length"] == 5000 and data["content_length_source"] == "measured"


@needs_openssl
def test_http_check_https_self_signed(web, certs):
    result = run_script("ops.http-check", "--url", f"{web['https']}/ok")
    assert result.code == 0
    assert "DOWN" in result.stdout and "not trusted: self-signed certificate" in result.stdout
    data = run_script("ops.http-check", "--url", f"{web['https']}/ok", "--insecure", "--json").json()
    assert data["up"] is True
    assert data["tls"]["protocol"].startswith("TLSv1.") and data["tls"]["verified"] is False
    assert data["tls"]["days_left"] in (4, 5)
    assert data["warnings"] == [f"certificate expires in {data['tls']['days_left']} days"]


@needs_openssl
def test_http_check_https_trusted_via_ssl_cert_file_and_cross_scheme_redirect(web, certs):
    env = {"SSL_CERT_FILE": str(certs["soon"][0])}
    data = run_script("ops.http-check", "--url", f"{web['http']}/to-https", "--json", env=env).json()
    assert data["up"] is True, data
    assert [h["status"] for h in data["hops"]] == [308, 200]
    assert data["final_url"] == f"{web['https']}/ok" and data["tls"]["verified"] is True
    text = run_script("ops.http-check", "--url", f"{web['http']}/to-https", env=env).stdout
    assert "• TLS: TLSv1." in text and "certificate expires in" in text


@pytest.mark.parametrize("argv,message", [
    (["--url", "ftp://example.com"], "must be an http:// or https:// URL"),
    (["--url", "example.com"], "must be an http:// or https:// URL"),
    (["--url", "https://user:pw@example.com/"], "must not contain credentials"),
    (["--url", "http://127.0.0.1/", "--timeout", "0"], "--timeout must be between 0 and 30"),
    (["--url", "http://127.0.0.1/", "--expect-status", "42"], "--expect-status must be an HTTP status"),
    (["--url", "http://127.0.0.1/", "--timeout", "soon"], "invalid float value"),
    ([], "--url"),
])
def test_http_check_bad_input_exits_2(argv, message, capsys):
    code, _, stderr = run_inproc("ops.http-check", *argv, capsys=capsys)
    assert code == 2 and message in stderr and "usage:" in stderr


def test_http_check_accepts_slack_link_markup(web):
    data = run_script("ops.http-check", "--url", f"<{web['http']}/ok|127.0.0.1/ok>", "--json").json()
    assert data["up"] is True and data["url"] == f"{web['http']}/ok"


# --- tls-expiry -----------------------------------------------------------------------------------------


@needs_openssl
def test_tls_expiry_self_signed_still_reports_dates(web):
    result = run_script("ops.tls-expiry", "--host", "127.0.0.1", "--port", str(web["https_port"]))
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"⚠ *127.0.0.1:{web['https_port']}* — certificate expires in *")
    assert "(within 14)" in lines[0]
    assert "• trust: ⚠ NOT trusted: self-signed certificate" in lines
    assert "• names: localhost, IP:127.0.0.1" in lines
    assert any(line.startswith("• issuer: O=Opsbot Test, CN=localhost (self-signed)") for line in lines)
    data = run_script("ops.tls-expiry", "--host", "127.0.0.1", "--port", str(web["https_port"]), "--json").json()
    assert data["days_left"] in (4, 5) and data["expiring"] is True and data["expired"] is False
    assert data["not_after"].endswith("Z") and data["not_before"].endswith("Z")
    assert data["subject"] == {"O": "Opsbot Test", "CN": "localhost"} and data["self_signed"] is True
    assert data["sans"] == ["DNS:localhost", "IP:127.0.0.1"]
    assert data["trusted"] is False and data["verify_error"] == "self-signed certificate"


@needs_openssl
def test_tls_expiry_warn_days_insecure_and_trusted(web, certs):
    port = str(web["https_port"])
    data = run_script("ops.tls-expiry", "--host", "localhost", "--port", port, "--warn-days", "3", "--insecure",
                      "--json").json()
    assert data["expiring"] is False and data["trusted"] is None
    text = run_script("ops.tls-expiry", "--host", f"localhost:{port}", "--warn-days", "3", "--insecure").stdout
    assert text.startswith(f"🔒 *localhost:{port}* — certificate expires in ") and "not checked (--insecure)" in text
    trusted = run_script("ops.tls-expiry", "--host", f"https://127.0.0.1:{port}/some/path", "--json",
                         env={"SSL_CERT_FILE": str(certs["soon"][0])}).json()
    assert trusted["trusted"] is True and trusted["verify_error"] is None and trusted["port"] == int(port)


@needs_openssl
def test_tls_expiry_expired_certificate(web):
    result = run_script("ops.tls-expiry", "--host", "127.0.0.1", "--port", str(web["expired_port"]))
    assert result.code == 0
    assert result.stdout.startswith(f"❌ *127.0.0.1:{web['expired_port']}* — certificate EXPIRED ")
    assert "valid until 2021-01-01T00:00:00Z" in result.stdout
    data = run_script("ops.tls-expiry", "--host", "127.0.0.1", "--port", str(web["expired_port"]), "--json").json()
    assert data["expired"] is True and data["days_left"] < -1000 and data["trusted"] is False


def test_tls_expiry_connection_failures_exit_4(web):
    refused = run_script("ops.tls-expiry", "--host", "127.0.0.1", "--port", str(_free_port()))
    assert refused.code == 4 and "tls 127.0.0.1:" in refused.stderr and "connection refused" in refused.stderr
    plain = run_script("ops.tls-expiry", "--host", "127.0.0.1", "--port", str(web["http_port"]))
    assert plain.code == 4 and "TLS handshake failed" in plain.stderr


def test_tls_expiry_timeout_exits_5():
    with socket.socket() as silent:  # accepts TCP, never speaks TLS
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        result = run_script("ops.tls-expiry", "--host", "127.0.0.1", "--port", str(silent.getsockname()[1]),
                            "--timeout", "0.3")
    assert result.code == 5 and "no answer within 0.3s" in result.stderr


@pytest.mark.parametrize("argv,message", [
    (["--host", "not a host"], "is not a host name"),
    (["--host", "example.com", "--port", "0"], "--port must be 1-65535"),
    (["--host", "example.com:99999"], "must be 1–65535"),
    (["--host", "example.com", "--warn-days", "-1"], "--warn-days must be 0 or more"),
    (["--host", "example.com", "--timeout", "31"], "--timeout must be between"),
])
def test_tls_expiry_bad_input_exits_2(argv, message, capsys):
    code, _, stderr = run_inproc("ops.tls-expiry", *argv, capsys=capsys)
    assert code == 2 and message in stderr


@needs_openssl
def test_der_decoder_matches_the_stdlib_decoder(certs):
    decode_private = getattr(ssl._ssl, "_test_decode_cert", None)  # noqa: SLF001 - cross-check only
    for path in (certs["soon"][0], certs["far"]):
        ours = decode_cert(ssl.PEM_cert_to_DER_cert(path.read_text()))
        assert ours["sans"] == ["DNS:localhost", "IP:127.0.0.1"]
        assert ours["subject_text"] == "O=Opsbot Test, CN=localhost"
        if decode_private is None:
            continue
        theirs = decode_private(str(path))
        assert ours["not_after"] == _stdlib_time(theirs["notAfter"])
        assert ours["not_before"] == _stdlib_time(theirs["notBefore"])
        assert ours["serial"] == theirs["serialNumber"].lstrip("0")
    far = decode_cert(ssl.PEM_cert_to_DER_cert(certs["far"].read_text()))
    assert far["not_after"].year > 2050


def _stdlib_time(text):
    import datetime as dt

    return dt.datetime.fromtimestamp(ssl.cert_time_to_seconds(text), dt.UTC)


def test_der_decoder_rejects_garbage():
    for junk in (b"", b"\x30", b"\x30\x82\xff\xff\x00", b"\x04\x03abc", b"\x30\x03\x02\x01\x00"):
        with pytest.raises(CertError):
            decode_cert(junk)


def test_split_host_port():
    assert split_host_port("example.com", 443) == ("example.com", 443)
    assert split_host_port("example.com:8443", 443) == ("example.com", 8443)
    assert split_host_port("[2001:db8::1]:53") == ("2001:db8::1", 53)
    assert split_host_port("2001:db8::1", 53) == ("2001:db8::1", 53)
    for bad in ("", "a b", "host:0", "host:x", "-bad-.com"):
        with pytest.raises(ValueError):
            split_host_port(bad, 1)


# --- port-check -----------------------------------------------------------------------------------------


def test_port_check_open_and_closed():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        result = run_script("ops.port-check", "--host", "127.0.0.1", "--port", str(port))
        assert result.code == 0
        assert result.stdout.startswith(f"✅ `127.0.0.1:{port}` is *open* — connected in ")
        data = run_script("ops.port-check", "--host", "127.0.0.1", "--port", str(port), "--json").json()
        assert data["state"] == "open" and data["open"] is True and data["latency_ms"] >= 0
    closed = _free_port()
    result = run_script("ops.port-check", "--host", "127.0.0.1", "--port", str(closed))
    assert result.code == 0 and f"`127.0.0.1:{closed}` is *closed* — connection refused" in result.stdout
    data = run_script("ops.port-check", "--host", "localhost", "--port", str(closed), "--json").json()
    assert data["state"] == "closed" and data["open"] is False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="relies on Linux dropping SYNs on a full backlog")
def test_port_check_filtered_on_timeout():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)  # never accepts: once the queue is full, new SYNs are dropped
        port = listener.getsockname()[1]
        fillers = []
        for _ in range(3):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
            fillers.append(filler)
        time.sleep(0.05)
        try:
            data = run_script("ops.port-check", "--host", "127.0.0.1", "--port", str(port), "--timeout", "0.3",
                              "--json").json()
        finally:
            for filler in fillers:
                filler.close()
    assert data["state"] == "filtered", data
    assert "timed out" in data["detail"]


@pytest.mark.parametrize("argv,message", [
    (["--host", "127.0.0.1", "--port", "70000"], "--port must be 1-65535"),
    (["--host", "bad host!", "--port", "80"], "is not a host name"),
    (["--host", "127.0.0.1", "--port", "http"], "invalid int value"),
    (["--host", "127.0.0.1", "--port", "80", "--timeout", "11"], "--timeout must be between 0 and 10"),
    (["--port", "80"], "--host"),
])
def test_port_check_bad_input_exits_2(argv, message, capsys):
    code, _, stderr = run_inproc("ops.port-check", *argv, capsys=capsys)
    assert code == 2 and message in stderr


# --- disk-usage -----------------------------------------------------------------------------------------


def test_disk_usage_of_a_path(tmp_path):
    result = run_script("ops.disk-usage", "--path", str(tmp_path), "--warn", "0")
    assert result.code == 0, result.stderr
    (line,) = result.stdout.splitlines()
    assert re.fullmatch(rf"• `{re.escape(str(tmp_path))}`: [\d.]+% used — [\d.]+ [KMGT]?i?B free of [\d.]+ "
                        r"[KMGT]?i?B ⚠ nearly full", line), line
    (row,) = run_script("ops.disk-usage", "--path", str(tmp_path), "--json").json()["filesystems"]
    usage = shutil.disk_usage(tmp_path)
    assert row["path"] == str(tmp_path) and row["total_bytes"] == usage.total
    assert row["used_percent"] == round(100 * row["used_bytes"] / (row["used_bytes"] + row["free_bytes"]), 1)
    assert row["nearly_full"] is (row["used_percent"] >= 85)


def test_disk_usage_of_a_missing_path_is_a_usage_error(tmp_path, capsys):
    code, _, err = run_inproc("ops.disk-usage", "--path", str(tmp_path / "nope"), capsys=capsys)
    assert code == 2 and "does not exist" in err


def test_disk_usage_lists_root_and_real_filesystems_once(tmp_path, monkeypatch, capsys):
    """A container: the root is an overlay, /etc/hosts is a file bind-mounted from the host's disk."""
    (tmp_path / "hosts").write_text("127.0.0.1 localhost\n")
    (tmp_path / "a dir").mkdir()
    (tmp_path / "b-again").mkdir()
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "mounts").write_text(
        "overlay / overlay rw,relatime 0 0\n"
        "proc /proc proc rw 0 0\n"
        f"/dev/sda1 {tmp_path}/hosts ext4 rw 0 0\n"
        f"/dev/sda1 {tmp_path}/a\\040dir ext4 rw 0 0\n"
        f"/dev/sda1 {tmp_path}/b-again ext4 rw 0 0\n")
    monkeypatch.setenv("OPSBOT_PROC_ROOT", str(proc))
    code, out, err = run_inproc("ops.disk-usage", "--json", capsys=capsys)
    assert code == 0, err
    # b-again is the filesystem of "a dir" (listed once), and both are the root's when tmp is on it.
    on_root = os.stat(tmp_path).st_dev == os.stat("/").st_dev
    assert [row["path"] for row in json.loads(out)["filesystems"]] == ["/"] + ([] if on_root else [f"{tmp_path}/a dir"])


def test_disk_usage_reads_octal_escapes_in_proc_mounts():
    module = runpy.run_path(str(SCRIPTS / "ops" / "disk-usage"), run_name="disk_usage")
    assert module["_unescape"]("/mnt/my\\040disk\\011x\\134y") == "/mnt/my disk\tx\\y"


# --- system-load ----------------------------------------------------------------------------------------


def test_system_load_on_this_host():
    result = run_script("ops.system-load")
    assert result.code == 0, result.stderr
    assert result.stdout.startswith("*System load* — ")
    data = run_script("ops.system-load", "--json").json()
    assert data["cpus"] >= 1
    if Path("/proc/meminfo").exists():
        assert 0 <= data["memory"]["used_percent"] <= 100
        assert data["memory"]["total_bytes"] > 0 and data["uptime_seconds"] > 0


def _fake_proc(tmp_path, load: float, total_kb: int, available_kb: int, swap=(0, 0)) -> dict[str, str]:
    proc, cgroup = tmp_path / "proc", tmp_path / "cgroup"
    proc.mkdir()
    cgroup.mkdir()
    (proc / "loadavg").write_text(f"{load:.2f} {load / 2:.2f} 0.10 3/400 12345\n")
    (proc / "meminfo").write_text(
        f"MemTotal:       {total_kb} kB\nMemFree:          1000 kB\nMemAvailable:   {available_kb} kB\n"
        f"SwapTotal:      {swap[0]} kB\nSwapFree:       {swap[1]} kB\n")
    (proc / "uptime").write_text("273600.50 1000.00\n")
    return {"OPSBOT_PROC_ROOT": str(proc), "OPSBOT_CGROUP_ROOT": str(cgroup)}


def test_system_load_flags_high_load_and_low_memory(tmp_path):
    import os

    cpus = os.cpu_count() or 1
    env = _fake_proc(tmp_path, load=cpus * 2 + 0.5, total_kb=8_000_000, available_kb=400_000,
                     swap=(2_000_000, 500_000))
    data = run_script("ops.system-load", "--json", env=env).json()
    assert data["load"]["high"] is True and data["load"]["1m"] == round(cpus * 2 + 0.5, 2)
    assert data["load"]["per_core"][0] == round((cpus * 2 + 0.5) / cpus, 2)
    assert data["memory"] == {"total_bytes": 8_192_000_000, "available_bytes": 409_600_000,
                              "used_percent": 95.0, "available_percent": 5.0, "low": True}
    assert data["swap"]["used_percent"] == 75.0
    assert data["uptime_seconds"] == 273600.5
    assert len(data["warnings"]) == 2
    text = run_script("ops.system-load", env=env).stdout
    assert text.startswith("*System load* — ⚠ high load: ") and "low memory" in text.splitlines()[0]
    assert "⚠ high" in text and "⚠ low" in text and "• uptime: 3d 4h" in text and "75.0%" in text


def test_system_load_healthy_and_container_limit(tmp_path):
    env = _fake_proc(tmp_path, load=0.05, total_kb=8_000_000, available_kb=6_000_000)
    (Path(env["OPSBOT_CGROUP_ROOT"]) / "memory.max").write_text("1073741824\n")
    (Path(env["OPSBOT_CGROUP_ROOT"]) / "memory.current").write_text("536870912\n")
    result = run_script("ops.system-load", env=env)
    assert result.stdout.startswith("*System load* — ✅ load and memory look fine")
    assert "• container limit: 512.0 MiB of 1.0 GiB (50.0%)" in result.stdout
    assert "• swap: none configured" in result.stdout


def test_system_load_without_proc(tmp_path):
    env = {"OPSBOT_PROC_ROOT": str(tmp_path / "nothing"), "OPSBOT_CGROUP_ROOT": str(tmp_path / "nothing")}
    result = run_script("ops.system-load", env=env)
    assert result.code == 0 and "memory: unavailable" in result.stdout


def test_system_load_bad_input_exits_2():
    result = run_script("ops.system-load", "--mem-warn", "150")
    assert result.code == 2 and "--mem-warn must be a percentage" in result.stderr


# --- dns-lookup -----------------------------------------------------------------------------------------


ZONE = {
    ("example.test", "A"): [("A", 300, "192.0.2.10"), ("A", 300, "192.0.2.11")],
    ("example.test", "AAAA"): [("AAAA", 60, "2001:db8::1")],
    ("example.test", "MX"): [("MX", 3600, (20, "mx2.example.test")), ("MX", 3600, (10, "mx1.example.test"))],
    ("example.test", "TXT"): [("TXT", 120, ["v=spf1 -all"]), ("TXT", 120, ["part one, ", "part two"])],
    ("example.test", "NS"): [("NS", 86400, "ns1.example.test"), ("NS", 86400, "ns2.other.test")],
    ("www.example.test", "CNAME"): [("CNAME", 600, "example.test")],
}
QTYPES = {1: "A", 2: "NS", 5: "CNAME", 15: "MX", 16: "TXT", 28: "AAAA"}
TYPE_CODES = {v: k for k, v in QTYPES.items()} | {"SOA": 6}


class FakeDNS:
    """A tiny authoritative-looking DNS server on 127.0.0.1 (UDP and TCP on the same port), written
    independently of the client: it builds replies by hand, compressing names against the question."""

    def __init__(self) -> None:
        for _ in range(20):  # UDP and TCP on the same port number
            self.tcp = socket.socket()
            self.tcp.bind(("127.0.0.1", 0))
            self.port = self.tcp.getsockname()[1]
            self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                self.udp.bind(("127.0.0.1", self.port))
                break
            except OSError:
                self.tcp.close()
                self.udp.close()
        self.tcp.listen(8)
        self.queries: list[tuple[str, str, str]] = []
        self.stop = False
        for target in (self._serve_udp, self._serve_tcp):
            threading.Thread(target=target, daemon=True).start()

    # wire helpers
    @staticmethod
    def _qname(packet: bytes) -> tuple[str, int]:
        labels, pos = [], 12
        while packet[pos]:
            labels.append(packet[pos + 1:pos + 1 + packet[pos]].decode())
            pos += 1 + packet[pos]
        return ".".join(labels), pos + 1

    @staticmethod
    def _name(name: str, qname: str) -> bytes:
        """Encode `name`, ending in a pointer into the question when a suffix matches it."""
        labels, q_labels = name.split("."), qname.split(".")
        out = b""
        for i in range(len(labels)):
            suffix = labels[i:]
            if len(suffix) <= len(q_labels) and q_labels[len(q_labels) - len(suffix):] == suffix:
                offset = 12 + sum(len(x) + 1 for x in q_labels[:len(q_labels) - len(suffix)])
                return out + struct.pack(">H", 0xC000 | offset)
            out += bytes([len(labels[i])]) + labels[i].encode()
        return out + b"\x00"

    def _rdata(self, rtype: str, value, qname: str) -> bytes:
        if rtype == "A":
            return socket.inet_pton(socket.AF_INET, value)
        if rtype == "AAAA":
            return socket.inet_pton(socket.AF_INET6, value)
        if rtype in ("CNAME", "NS"):
            return self._name(value, qname)
        if rtype == "MX":
            return struct.pack(">H", value[0]) + self._name(value[1], qname)
        if rtype == "TXT":
            return b"".join(bytes([len(s.encode())]) + s.encode() for s in value)
        if rtype == "SOA":
            return (self._name("ns1.example.test", qname) + self._name("hostmaster.example.test", qname)
                    + struct.pack(">IIIII", 2026112501, 7200, 900, 1209600, 300))
        raise AssertionError(rtype)

    def answer(self, packet: bytes, tcp: bool) -> bytes | None:
        qid, flags = struct.unpack(">HH", packet[:4])
        qname, end = self._qname(packet)
        qtype = QTYPES.get(struct.unpack(">H", packet[end:end + 2])[0], "?")
        question = packet[12:end + 4]
        self.queries.append((qname, qtype, "tcp" if tcp else "udp"))
        name = qname.lower()
        rcode, answers, authority, tc = 0, [], [], False
        if name == "slow.example.test":
            return None
        arcount = struct.unpack(">H", packet[10:12])[0]
        if name == "broken.example.test":
            rcode = 2
        elif name == "noedns.example.test":  # a pre-EDNS server: FORMERR on an OPT record
            if arcount:
                rcode = 1
            else:
                answers = [(qname, "A", 30, "192.0.2.77")]
        elif name == "big.example.test" and qtype == "TXT":
            if tcp:
                answers = [(qname, "TXT", 60, [f"record {i:02d} " + "x" * 40]) for i in range(30)]
            else:
                tc = True
        elif name == "old.example.test" and qtype != "CNAME":  # an alias to a name with no records
            answers = [(qname, "CNAME", 600, "gone.example.test")]
            authority = [("example.test", "SOA", 300, None)]
        elif name == "www.example.test" and qtype != "CNAME":
            answers = [(qname, "CNAME", 600, "example.test")]
            answers += [("example.test", t, ttl, v) for t, ttl, v in ZONE.get(("example.test", qtype), [])]
        elif (name, qtype) in ZONE:
            answers = [(qname, t, ttl, v) for t, ttl, v in ZONE[(name, qtype)]]
        elif name.endswith("example.test") and name in {k[0] for k in ZONE} | {"stray.example.test"}:
            authority = [("example.test", "SOA", 300, None)]  # NODATA
            if name == "stray.example.test":
                answers = [(qname, "A", 5, "192.0.2.99")]
        else:
            rcode = 3
            authority = [("example.test", "SOA", 300, None)]
        header = struct.pack(">HHHHHH", qid, 0x8000 | 0x0400 | (flags & 0x0100) | (0x0200 if tc else 0) | rcode,
                             1, len(answers), len(authority), 0)
        body = b""
        for owner, rtype, ttl, value in answers + authority:
            rdata = self._rdata(rtype, value, qname)
            body += self._name(owner, qname) + struct.pack(">HHIH", TYPE_CODES[rtype], 1, ttl, len(rdata)) + rdata
        return header + question + body

    def _serve_udp(self) -> None:
        while not self.stop:
            try:
                packet, peer = self.udp.recvfrom(4096)
            except OSError:
                return
            if self._qname(packet)[0] == "stray.example.test":  # a spoof-like reply with the wrong id first
                wrong = bytearray(self.answer(packet, False))
                wrong[0] ^= 0xFF
                self.udp.sendto(bytes(wrong), peer)
                self.queries.pop()
            reply = self.answer(packet, tcp=False)
            if reply is not None:
                self.udp.sendto(reply, peer)

    def _serve_tcp(self) -> None:
        while not self.stop:
            try:
                conn, _ = self.tcp.accept()
            except OSError:
                return
            with conn:
                length = struct.unpack(">H", conn.recv(2))[0]
                packet = b""
                while len(packet) < length:
                    packet += conn.recv(length - len(packet))
                reply = self.answer(packet, tcp=True)
                if reply is not None:
                    conn.sendall(struct.pack(">H", len(reply)) + reply)

    def close(self) -> None:
        self.stop = True
        self.udp.close()
        self.tcp.close()


@pytest.fixture(scope="module")
def dns():
    server = FakeDNS()
    yield server
    server.close()


def dig(dns, name, rtype="A", *extra, env=None):
    return run_script("ops.dns-lookup", "--name", name, "--type", rtype, "--server", f"127.0.0.1:{dns.port}",
                      *extra, env=env)


def test_dns_a_records(dns):
    result = dig(dns, "example.test")
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"*example.test* A — 2 records (via 127.0.0.1:{dns.port}, ")
    assert lines[1:] == ["• 192.0.2.10 (TTL 5m)", "• 192.0.2.11 (TTL 5m)"]
    data = dig(dns, "example.test", "A", "--json").json()
    assert [r["value"] for r in data["records"]] == ["192.0.2.10", "192.0.2.11"]
    assert data["status"] == "NOERROR" and data["transport"] == "udp" and data["authoritative"] is True


def test_dns_aaaa_and_lowercase_type(dns):
    data = dig(dns, "example.test", "aaaa", "--json").json()
    assert data["type"] == "AAAA" and [r["value"] for r in data["records"]] == ["2001:db8::1"]


def test_dns_mx_sorted_by_preference_with_compressed_names(dns):
    result = dig(dns, "Example.Test.", "MX")
    assert result.code == 0
    assert result.stdout.splitlines()[1:] == ["• 10 mx1.example.test (TTL 1h)", "• 20 mx2.example.test (TTL 1h)"]
    data = dig(dns, "example.test", "MX", "--json").json()
    assert [(r["preference"], r["exchange"]) for r in data["records"]] == [(10, "mx1.example.test"),
                                                                         (20, "mx2.example.test")]


def test_dns_txt_multi_string(dns):
    data = dig(dns, "example.test", "TXT", "--json").json()
    assert [r["text"] for r in data["records"]] == ["v=spf1 -all", "part one, part two"]
    assert data["records"][1]["strings"] == ["part one, ", "part two"]
    assert '• "part one, " "part two" (TTL 2m)' in dig(dns, "example.test", "TXT").stdout


def test_dns_ns(dns):
    data = dig(dns, "example.test", "NS", "--json").json()
    assert [r["value"] for r in data["records"]] == ["ns1.example.test", "ns2.other.test"]


def test_dns_cname_chain_and_cname_type(dns):
    result = dig(dns, "www.example.test", "A")
    assert "• www.example.test is an alias of *example.test* (CNAME, TTL 10m)" in result.stdout
    assert "• 192.0.2.10 (TTL 5m)" in result.stdout
    data = dig(dns, "www.example.test", "CNAME", "--json").json()
    assert [r["target"] for r in data["records"]] == ["example.test"] and data["cname_chain"] == []


def test_dns_nxdomain_is_an_answer(dns):
    result = dig(dns, "nope.example.test", "MX")
    assert result.code == 0
    assert result.stdout.startswith("❓ *nope.example.test* does not exist (NXDOMAIN, via 127.0.0.1:")
    assert dig(dns, "nope.example.test", "A", "--json").json()["status"] == "NXDOMAIN"


def test_dns_nodata(dns):
    result = dig(dns, "example.test", "CNAME")
    assert result.code == 0 and result.stdout.startswith("*example.test* has no CNAME records (via ")
    result = dig(dns, "old.example.test", "MX")
    assert result.code == 0 and result.stdout.startswith("*old.example.test* has no MX records")
    assert "• old.example.test is an alias of *gone.example.test*" in result.stdout
    assert "• gone.example.test has no MX records" in result.stdout
    assert dig(dns, "old.example.test", "MX", "--json").json()["status"] == "NODATA"


def test_dns_servfail_exits_4_naming_the_call(dns):
    result = dig(dns, "broken.example.test", "A")
    assert result.code == 4
    assert f"dns A broken.example.test @127.0.0.1:{dns.port}: server answered SERVFAIL" in result.stderr


def test_dns_truncated_udp_falls_back_to_tcp(dns):
    data = dig(dns, "big.example.test", "TXT", "--json").json()
    assert data["transport"] == "tcp" and len(data["records"]) == 30
    assert ("big.example.test", "TXT", "tcp") in dns.queries
    text = dig(dns, "big.example.test", "TXT").stdout
    assert "over TCP" in text.splitlines()[0] and "…and 10 more" in text


def test_dns_retries_without_edns_on_formerr(dns):
    data = dig(dns, "noedns.example.test", "A", "--json").json()
    assert [r["value"] for r in data["records"]] == ["192.0.2.77"]


def test_dns_ignores_a_reply_with_the_wrong_id(dns):
    data = dig(dns, "stray.example.test", "A", "--json").json()
    assert [r["value"] for r in data["records"]] == ["192.0.2.99"]


def test_dns_timeout_exits_5(dns):
    result = dig(dns, "slow.example.test", "A", "--timeout", "0.25")
    assert result.code == 5 and "no reply within 0.25s" in result.stderr


def test_dns_nothing_listening_exits_4():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = run_script("ops.dns-lookup", "--name", "example.test", "--server", f"127.0.0.1:{port}",
                        "--timeout", "1")
    assert result.code in (4, 5), result.stderr  # ICMP refusal (4) when the kernel reports it, else a timeout
    assert "dns A example.test @127.0.0.1:" in result.stderr


def test_dns_without_a_configured_nameserver(tmp_path):
    empty = tmp_path / "resolv.conf"
    empty.write_text("# nothing here\nsearch example.test\n")
    env = {"OPSBOT_RESOLV_CONF": str(empty)}
    result = run_script("ops.dns-lookup", "--name", "example.test", "--type", "MX", env=env)
    assert result.code == 3 and "no DNS server configured" in result.stderr
    # A/AAAA fall back to the system resolver; "localhost" comes from /etc/hosts, no network needed.
    data = run_script("ops.dns-lookup", "--name", "localhost", "--json", env=env).json()
    assert data["server"] == "system resolver" and "127.0.0.1" in [r["value"] for r in data["records"]]


@pytest.mark.parametrize("argv,message", [
    (["--name", "exa mple.com"], "is not a domain name"),
    (["--name", "a" * 64 + ".com"], "longer than 63"),
    (["--name", "a..com"], "empty label"),
    (["--name", "example.com", "--type", "SPF"], "invalid choice"),
    (["--name", "example.com", "--server", "1.1.1.1:99999"], "--server"),
    (["--name", "example.com", "--timeout", "0"], "--timeout must be between 0 and 10"),
])
def test_dns_bad_input_exits_2(argv, message, capsys):
    code, _, stderr = run_inproc("ops.dns-lookup", *argv, capsys=capsys)
    assert code == 2 and message in stderr


def test_dns_parser_unit_cases(tmp_path):
    # A compression pointer that points at itself must not loop forever.
    msg = b"\x00" * 12 + b"\xc0\x0c"
    with pytest.raises(DNSError, match="loop"):
        decode_name(msg, 12)
    with pytest.raises(DNSError):
        decode_name(b"\x00" * 12 + b"\x05ab", 12)
    # A reply to another question is rejected.
    query = build_query("example.test", "A", qid=7, edns=False)
    reply = bytearray(query)
    reply[2] |= 0x80
    assert parse_response(bytes(reply), 7, "example.test", "A").answers == []
    with pytest.raises(DNSError, match="different question"):
        parse_response(bytes(reply), 7, "other.test", "A")
    with pytest.raises(DNSError, match="id does not match"):
        parse_response(bytes(reply), 8, "example.test", "A")
    conf = tmp_path / "resolv.conf"
    conf.write_text("# comment\nsearch x\nnameserver 127.0.0.53 # systemd\nnameserver 10.0.0.1\n")
    assert system_nameserver(str(conf)) == "127.0.0.53"
    assert system_nameserver(str(tmp_path / "missing")) is None


# --- registry patterns vs. the held-out corpus -----------------------------------------------------------


def _ops_entries():
    from bot.config import PROJECT_ROOT
    from bot.registry import load_registry

    registry = load_registry(PROJECT_ROOT / "registry")
    return {name: entry for name, entry in registry.scripts.items() if name.startswith("ops.")}


def _pattern_hits(entries, text):
    hits = []
    for name, entry in entries.items():
        for pattern in entry.patterns:
            match = re.fullmatch(pattern, text.strip())
            if match:
                hits.append((name, {k: v for k, v in match.groupdict().items() if v is not None}))
    return hits


def test_ops_patterns_are_anchored_and_precise():
    import yaml

    entries = _ops_entries()
    assert set(entries) >= {"ops.disk-usage", "ops.system-load", "ops.http-check", "ops.tls-expiry",
                            "ops.dns-lookup", "ops.port-check"}
    for entry in entries.values():
        assert 5 <= len(entry.examples) <= 8, entry.name
        for pattern in entry.patterns:
            assert re.sub(r"^\(\?i\)", "", pattern).startswith("^") and pattern.endswith("$"), pattern
    corpus = yaml.safe_load((SCRIPTS.parent / "bench" / "corpus" / "ops.yaml").read_text())
    per_script: dict[str | None, int] = {}
    for case in corpus:
        per_script[case["script"]] = per_script.get(case["script"], 0) + 1
        hits = _pattern_hits(entries, case["text"])
        if case["script"] is None:
            assert hits == [], case["text"]
            continue
        assert {name for name, _ in hits} <= {case["script"]}, (case["text"], hits)
        if hits:  # a pattern fired: its groups must fill the expected, valid arguments
            args = entries[case["script"]].validate_args(hits[0][1])
            for key, value in (case.get("args") or {}).items():
                assert args.get(key) == value, (case["text"], args)
    assert all(per_script.get(name, 0) >= 4 for name in entries), per_script
    assert per_script.get(None, 0) >= 6
    # How/why questions about the same things never match a pattern.
    phrasings = [e for entry in entries.values() for e in entry.examples] + [c["text"] for c in corpus]
    for text in phrasings:
        for prefix in ("how do I ", "why is ", "how can I ", "why does "):
            assert _pattern_hits(entries, prefix + text) == [], prefix + text
