"""HTTP for the simple API: persistent connections per thread, redirects, gzip, retries,
proxies, TLS settings from pip's configuration, and an on-disk cache.

Standard library only (``http.client``): pkgdoctor asks for a few hundred small pages per
run from a handful of hosts, which needs keep-alive connections reused within a thread and
nothing more; see docs/design.md.

The cache keeps what a page *decoded to* (the parsed file list), not the raw bytes, so a warm
run parses nothing. An entry is fresh for the response's ``Cache-Control: max-age`` (PyPI
sends 600 s), else until its ``Expires``, else for ``heuristic_ttl`` (600 s, PyPI's own
value, for mirrors that send no caching headers); a stale entry with an ``ETag`` or
``Last-Modified`` is revalidated with a conditional request. ``no-store`` responses are not
kept. The cache lives in pkgdoctor's cache directory (``$PKGDOCTOR_CACHE_DIR``, else the XDG
cache), never inside an environment. ``file:`` URLs are read directly and never cached.
"""

from __future__ import annotations

import base64
import contextlib
import email.utils
import hashlib
import http.client
import json
import mimetypes
import os
import socket
import ssl
import tempfile
import threading
import time
import urllib.parse
import urllib.request
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any, TypeVar

from pkgdoctor import __version__
from pkgdoctor._fields import FieldRepr
from pkgdoctor._typed import loads
from pkgdoctor.files import NotRegularFile, read_regular

if TYPE_CHECKING:
    import concurrent.futures

T = TypeVar("T")

# PEP 691: prefer JSON, accept the HTML serialisations (what pip sends).
ACCEPT_SIMPLE = (
    "application/vnd.pypi.simple.v1+json, "
    "application/vnd.pypi.simple.v1+html; q=0.1, "
    "text/html; q=0.01"
)
CACHE_FORMAT = 2  # 2: rows carry PEP 658 metadata and PEP 700 upload time
# A simple page larger than this is refused. The largest real ones are ~2 MB (numpy's and
# botocore's PEP 691 JSON on pypi.org, 2026); parsing 100 MB of HTML took 2 GB and 65 s.
MAX_PAGE_BYTES = 32 * 1024 * 1024
# No answer may take longer than this in all, however steadily bytes arrive (the per-read
# timeout alone never cuts off a server that drips a byte every few seconds). 256 MiB sdists
# (wheels/sdist.py) at 2 MB/s take ~130 s; a page takes a second.
DEADLINE = 300.0
_MAX_REDIRECTS = 10
# The server closed the connection (an idle keep-alive one is tried once more).
_DROPPED = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)
_RETRY_STATUSES = {500, 502, 503, 504, 520, 527}  # as pip's urllib3 Retry


class FetchError(Exception):
    """A URL could not be read; ``str()`` is one sentence for the user."""

    def __init__(self, message: str, *, status: int | None = None, retry: bool = True) -> None:
        super().__init__(message)
        self.status = status
        # Worth another attempt: a connection failure, not an answer or a timeout.
        self.retry = retry and status is None


class NotFound(FetchError):
    """404/410, or a ``file:`` path that does not exist: the page is not there."""


@dataclass(repr=False)
class Response(FieldRepr):
    url: str  # after redirects
    status: int
    headers: http.client.HTTPMessage | dict[str, str]
    body: bytes

    @property
    def content_type(self) -> str:
        return str(self.headers.get("Content-Type") or "").strip()

    @property
    def charset(self) -> str:
        for part in self.content_type.split(";")[1:]:
            key, _, value = part.strip().partition("=")
            if key.lower() == "charset" and value:
                return value.strip("\"'")
        return "utf-8"


@dataclass(repr=False)
class Stats(FieldRepr):
    requests: int = 0  # network round trips
    cache_hits: int = 0  # answered from the cache without asking
    revalidated: int = 0  # 304 Not Modified


@dataclass(repr=False)
class _Lane(FieldRepr):
    """One thread's open connections, by (scheme, host, port, proxy)."""

    connections: dict[tuple[str, str, int, str], http.client.HTTPConnection] = field(
        default_factory=dict
    )


class Session:
    """Fetches URLs for one run. Thread-safe: each thread keeps its own connections."""

    def __init__(
        self,
        *,
        cache_dir: str | None = None,
        timeout: float = 15.0,
        retries: int = 2,
        cert: str | None = None,
        client_cert: str | None = None,
        trusted_hosts: Sequence[str] = (),
        proxy: str | None = None,
        heuristic_ttl: float = 600.0,
        clock: Callable[[], float] = time.time,
        deadline: float = DEADLINE,
    ) -> None:
        self.cache_dir = cache_dir
        self.timeout = timeout
        self.retries = max(0, retries)
        self.cert = cert
        self.client_cert = client_cert
        self.trusted_hosts = {h.strip().lower() for h in trusted_hosts if h.strip()}
        self.proxy = proxy
        self.heuristic_ttl = heuristic_ttl
        self.clock = clock
        self.deadline = deadline
        self.stats = Stats()
        self._lock = threading.Lock()
        self._local = threading.local()
        self._lanes: list[_Lane] = []
        self._contexts: dict[bool, ssl.SSLContext] = {}

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- public ---------------------------------------------------------------------------

    def get(self, url: str, *, accept: str, decode: Callable[[Response], T]) -> T:
        """``decode`` of the response for ``url``, from the cache while it is fresh.

        ``decode`` must return JSON-serialisable data (it is what the cache keeps) and may
        raise ``ValueError`` for a malformed page, which is then not cached.
        """
        if url.startswith("file:"):
            return decode(read_file_url(url))
        key = hashlib.sha256(f"{CACHE_FORMAT}\0{url}\0{accept}".encode()).hexdigest()
        entry = self._load(key)
        now = self.clock()
        if entry is not None and now - entry["stored"] < entry["ttl"]:
            with self._lock:
                self.stats.cache_hits += 1
            return entry["value"]  # type: ignore[no-any-return]
        headers = {"Accept": accept}
        if entry is not None:
            if entry.get("etag"):
                headers["If-None-Match"] = entry["etag"]
            if entry.get("last_modified"):
                headers["If-Modified-Since"] = entry["last_modified"]
        response = self.request(url, headers, not_modified_ok=entry is not None)
        if response.status == 304 and entry is not None:
            with self._lock:
                self.stats.revalidated += 1
            entry.update(stored=now, ttl=self._ttl(response, now))
            self._store(key, entry)
            return entry["value"]  # type: ignore[no-any-return]
        value = decode(response)
        if "no-store" not in _cache_control(response):
            self._store(
                key,
                {
                    "url": url,
                    "stored": now,
                    "ttl": self._ttl(response, now),
                    "etag": response.headers.get("ETag"),
                    "last_modified": response.headers.get("Last-Modified"),
                    "value": value,
                },
            )
        return value

    def download(self, url: str, max_bytes: int) -> IO[bytes]:
        """The body of ``url`` in a temporary file (in memory while small), at most
        ``max_bytes``: larger bodies raise :class:`FetchError` without being read to the end."""
        if url.startswith("file:"):
            path = _file_url_path(url)
            try:
                size = os.path.getsize(path)
                if size > max_bytes:
                    raise FetchError(f"{size} bytes is more than the {max_bytes} allowed")
                return open(path, "rb")  # the caller closes it
            except FileNotFoundError as exc:
                raise NotFound(f"no such file: {path}") from exc
            except OSError as exc:
                raise FetchError(f"cannot read {path}: {exc.strerror or exc}") from exc
        spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115
        try:
            self.request(url, {"Accept": "*/*"}, sink=spool, max_bytes=max_bytes)
        except BaseException:
            spool.close()
            raise
        spool.seek(0)
        return spool

    def request(
        self,
        url: str,
        headers: dict[str, str],
        *,
        not_modified_ok: bool = False,
        sink: IO[bytes] | None = None,
        max_bytes: int = MAX_PAGE_BYTES,
    ) -> Response:
        """GET ``url`` following redirects, retrying connection failures and 5xx answers.
        With ``sink`` the body is written there instead of kept in the response."""
        current = url
        for _ in range(_MAX_REDIRECTS + 1):
            response = self._with_retries(current, headers, sink, max_bytes)
            if response.status in (301, 302, 303, 307, 308):
                location = response.headers.get("Location")
                if not location:
                    raise FetchError(f"HTTP {response.status} without a Location", status=400)
                current = urllib.parse.urljoin(current, location)
                if sink is not None:
                    sink.seek(0)
                    sink.truncate()
                continue
            if response.status == 304 and not_modified_ok:
                return response
            if response.status in (404, 410):
                raise NotFound(f"HTTP {response.status} Not Found", status=response.status)
            if response.status >= 400 or response.status < 200:
                reason = http.client.responses.get(response.status, "")
                raise FetchError(f"HTTP {response.status} {reason}".strip(), status=response.status)
            return response
        raise FetchError(f"more than {_MAX_REDIRECTS} redirects")

    def close(self) -> None:
        """Close every thread's connections (call when no request is running)."""
        with self._lock:
            lanes, self._lanes = self._lanes, []
        for lane in lanes:
            for conn in lane.connections.values():
                conn.close()
            lane.connections.clear()

    # --- connections ----------------------------------------------------------------------

    def _with_retries(
        self, url: str, headers: dict[str, str], sink: IO[bytes] | None, max_bytes: int
    ) -> Response:
        attempt = 0
        while True:
            try:
                response = self._once(url, headers, sink, max_bytes)
            except FetchError as exc:
                if not exc.retry or attempt >= self.retries:
                    raise
            else:
                if response.status not in _RETRY_STATUSES or attempt >= self.retries:
                    return response
            attempt += 1
            if sink is not None:
                sink.seek(0)
                sink.truncate()
            time.sleep(0.25 * 2 ** (attempt - 1))

    def _once(
        self, url: str, headers: dict[str, str], sink: IO[bytes] | None, max_bytes: int
    ) -> Response:
        parts = urllib.parse.urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise FetchError(f"unsupported URL scheme {parts.scheme!r}", status=400)
        host = parts.hostname or ""
        port = parts.port or (443 if scheme == "https" else 80)
        path = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
        request_headers = {
            "User-Agent": f"pkgdoctor/{__version__}",
            "Accept-Encoding": "gzip",
            **headers,
        }
        credentials = _credentials(parts)
        if credentials:
            token = base64.b64encode(credentials.encode()).decode()
            request_headers["Authorization"] = f"Basic {token}"
        proxy = self._proxy_for(scheme, host)
        if proxy and scheme == "http":
            path = urllib.parse.urlunsplit((scheme, parts.netloc.rpartition("@")[2], path, "", ""))
            proxy_credentials = _credentials(urllib.parse.urlsplit(proxy))
            if proxy_credentials:
                token = base64.b64encode(proxy_credentials.encode()).decode()
                request_headers["Proxy-Authorization"] = f"Basic {token}"
        lane = self._lane()
        key = (scheme, host, port, proxy or "")
        deadline = _Deadline(self.deadline)
        try:
            for fresh in (False, True):
                conn = lane.connections.get(key)
                reused = conn is not None and not fresh
                if conn is None or fresh:
                    if conn is not None:
                        conn.close()
                    conn = self._connect(scheme, host, port, proxy)
                    lane.connections[key] = conn
                try:
                    with self._lock:
                        self.stats.requests += 1
                    conn.request("GET", path, headers=request_headers)
                    # Kept here: getresponse() drops conn.sock when the server will close
                    # (the response reads on through its own file object).
                    deadline.sock = conn.sock
                    if deadline.fired:  # before the socket was known
                        raise deadline.error()
                    raw = conn.getresponse()
                    body = _read_body(raw, sink, max_bytes)
                    if deadline.fired:  # cut off: what was read is not the whole body
                        raise deadline.error()
                    if raw.will_close:
                        conn.close()
                        del lane.connections[key]
                    return Response(url, raw.status, raw.headers, body)
                except (
                    http.client.RemoteDisconnected,
                    ConnectionResetError,
                    BrokenPipeError,
                ) as exc:
                    conn.close()
                    lane.connections.pop(key, None)
                    if reused and not deadline.fired:
                        continue  # the server closed an idle keep-alive connection: once more
                    raise FetchError(f"connection closed by {host}: {exc}") from exc
                except FetchError:
                    conn.close()
                    lane.connections.pop(key, None)
                    raise
                except socket.timeout as exc:
                    conn.close()
                    lane.connections.pop(key, None)
                    # Not retried: with pip's timeout (15 s, often more) retries would hang.
                    raise FetchError(f"timed out after {self.timeout:g} s", retry=False) from exc
                except ssl.SSLError as exc:
                    conn.close()
                    lane.connections.pop(key, None)
                    reason = exc.reason or exc
                    raise FetchError(f"TLS error with {host}: {reason}", retry=False) from exc
                except (OSError, http.client.HTTPException) as exc:
                    conn.close()
                    lane.connections.pop(key, None)
                    raise FetchError(f"cannot connect to {host}: {_os_reason(exc)}") from exc
        except FetchError as exc:
            if deadline.fired:
                raise deadline.error() from exc
            raise
        finally:
            deadline.cancel()
        raise FetchError(f"connection to {host} keeps closing")  # pragma: no cover

    def _lane(self) -> _Lane:
        lane: _Lane | None = getattr(self._local, "lane", None)
        if lane is None:
            lane = self._local.lane = _Lane()
            with self._lock:
                self._lanes.append(lane)
        return lane

    def _connect(
        self, scheme: str, host: str, port: int, proxy: str | None
    ) -> http.client.HTTPConnection:
        if proxy:
            proxy_parts = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
            proxy_host = proxy_parts.hostname or ""
            proxy_port = proxy_parts.port or 8080
            if scheme == "http":
                return http.client.HTTPConnection(proxy_host, proxy_port, timeout=self.timeout)
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                proxy_host, proxy_port, timeout=self.timeout, context=self._context(host)
            )
            tunnel_headers = {}
            proxy_credentials = _credentials(proxy_parts)
            if proxy_credentials:
                token = base64.b64encode(proxy_credentials.encode()).decode()
                tunnel_headers["Proxy-Authorization"] = f"Basic {token}"
            conn.set_tunnel(host, port, headers=tunnel_headers)
            return conn
        if scheme == "https":
            return http.client.HTTPSConnection(
                host, port, timeout=self.timeout, context=self._context(host)
            )
        return http.client.HTTPConnection(host, port, timeout=self.timeout)

    def _context(self, host: str) -> ssl.SSLContext:
        verify = host.lower() not in self.trusted_hosts
        with self._lock:
            context = self._contexts.get(verify)
            if context is None:
                cafile = capath = None
                if self.cert:
                    cafile, capath = (
                        (None, self.cert) if os.path.isdir(self.cert) else (self.cert, None)
                    )
                context = ssl.create_default_context(cafile=cafile, capath=capath)
                if self.client_cert:
                    context.load_cert_chain(self.client_cert)
                if not verify:  # pip's --trusted-host: no certificate check for that host
                    context.check_hostname = False
                    context.verify_mode = ssl.CERT_NONE
                self._contexts[verify] = context
            return context

    def _proxy_for(self, scheme: str, host: str) -> str | None:
        if self.proxy:
            return self.proxy
        proxies = urllib.request.getproxies()
        proxy = proxies.get(scheme)
        if proxy and not urllib.request.proxy_bypass(host):
            return proxy
        return None

    # --- cache ----------------------------------------------------------------------------

    def _ttl(self, response: Response, now: float) -> float:
        control = _cache_control(response)
        if "no-cache" in control:
            return 0.0
        max_age = control.get("max-age")
        if max_age is not None:
            try:
                return float(max_age)
            except ValueError:
                pass
        expires = response.headers.get("Expires")
        if expires:
            try:
                return max(0.0, email.utils.parsedate_to_datetime(expires).timestamp() - now)
            except (TypeError, ValueError, IndexError):
                return 0.0
        return self.heuristic_ttl

    def _path(self, key: str) -> str | None:
        if self.cache_dir is None:
            return None
        return os.path.join(self.cache_dir, key[:2], f"{key}.json.z")

    def _load(self, key: str) -> dict[str, Any] | None:
        path = self._path(key)
        if path is None:
            return None
        try:
            # Not a regular file (a FIFO must not block), or damaged: a miss. Entries are
            # decoded file lists, at most MAX_PAGE_BYTES once inflated.
            raw = read_regular(path, MAX_PAGE_BYTES)
            inflater = zlib.decompressobj()
            text = inflater.decompress(raw, MAX_PAGE_BYTES)
            if inflater.unconsumed_tail:
                return None
            entry = loads(text)
        except (OSError, ValueError, zlib.error):
            return None
        if not isinstance(entry, dict) or not {"stored", "ttl", "value"} <= entry.keys():
            return None
        return entry

    def _store(self, key: str, entry: dict[str, Any]) -> None:
        path = self._path(key)
        if path is None:
            return
        try:
            data = zlib.compress(json.dumps(entry, separators=(",", ":")).encode(), 1)
            directory = os.path.dirname(path)
            os.makedirs(directory, mode=0o700, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                os.replace(tmp, path)
            except BaseException:
                os.unlink(tmp)
                raise
        except (OSError, ValueError, TypeError):
            pass  # the cache is an optimisation: never fail a run for it


def read_file_url(url: str) -> Response:
    """A ``file:`` URL as a response; a directory reads as its ``index.html``, as pip reads a
    local index. The content type is guessed from the name."""
    path = _file_url_path(url)
    if os.path.isdir(path):
        path = os.path.join(path, "index.html")
        url = url.rstrip("/") + "/index.html"
    try:
        body = read_regular(path, MAX_PAGE_BYTES + 1)
    except (FileNotFoundError, NotADirectoryError) as exc:
        raise NotFound(f"no such file: {path}") from exc
    except NotRegularFile as exc:  # a FIFO index.html would block a plain open() forever
        raise FetchError(f"cannot read {path}: not a regular file") from exc
    except OSError as exc:
        raise FetchError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if len(body) > MAX_PAGE_BYTES:
        raise FetchError(f"{path} is larger than {MAX_PAGE_BYTES} bytes")
    content_type = mimetypes.guess_type(path, strict=False)[0] or "application/octet-stream"
    return Response(url, 200, {"Content-Type": content_type}, body)


def _file_url_path(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return urllib.request.url2pathname(parts.path)


def _credentials(parts: urllib.parse.SplitResult) -> str | None:
    if parts.username is None:
        return _netrc_credentials(parts.hostname or "")
    user = urllib.parse.unquote(parts.username)
    password = urllib.parse.unquote(parts.password or "")
    return f"{user}:{password}"


def _netrc_credentials(host: str) -> str | None:
    """``user:password`` for ``host`` from ``~/.netrc`` (``$NETRC``), as pip's requests does."""
    path = os.environ.get("NETRC") or os.path.expanduser("~/.netrc")
    if not host or not os.path.isfile(path):
        return None
    import netrc

    try:
        found = netrc.netrc(path).authenticators(host)
    except (OSError, netrc.NetrcParseError):
        return None
    if not found:
        return None
    login, _, password = found
    return f"{login}:{password or ''}"


class _Deadline:
    """Cuts off one request (the connection it uses is shut down) once it has run for
    ``seconds``, whatever the server sends meanwhile."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.fired = False
        self.sock: socket.socket | None = None
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        self.fired = True
        sock = self.sock
        if sock is not None:
            with contextlib.suppress(OSError):  # wakes the blocked read; close() would not
                sock.shutdown(socket.SHUT_RDWR)

    def cancel(self) -> None:
        self._timer.cancel()

    def error(self) -> FetchError:
        return FetchError(f"no complete answer within {self.seconds:g} s", retry=False)


def _read_body(raw: http.client.HTTPResponse, sink: IO[bytes] | None, max_bytes: int) -> bytes:
    gzipped = (raw.headers.get("Content-Encoding") or "").strip().lower() == "gzip"
    inflate = zlib.decompressobj(wbits=47) if gzipped else None
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = raw.read(1 << 16)
        if not chunk:
            break
        if inflate is not None:
            try:
                chunk = inflate.decompress(chunk, max_bytes + 1 - total)
            except zlib.error as exc:
                raise FetchError(f"corrupt gzip body: {exc}", status=502) from exc
            if inflate.unconsumed_tail:
                total = max_bytes + 1
        total += len(chunk)
        if total > max_bytes:
            raw.close()
            raise FetchError(f"larger than the {max_bytes} bytes allowed", status=413)
        if sink is not None:
            sink.write(chunk)
        else:
            chunks.append(chunk)
    return b"".join(chunks)


def _cache_control(response: Response) -> dict[str, str | None]:
    result: dict[str, str | None] = {}
    for part in str(response.headers.get("Cache-Control") or "").split(","):
        name, sep, value = part.strip().partition("=")
        if name:
            result[name.lower()] = value.strip('"') if sep else None
    return result


def _os_reason(exc: BaseException) -> str:
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the host name ({exc.strerror or exc})"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


@contextlib.contextmanager
def request_pool(workers: int) -> Iterator[concurrent.futures.ThreadPoolExecutor]:
    """Threads for requests, abandoned, not waited for, when the run is interrupted (Ctrl-C,
    SIGTERM): queued requests are cancelled and running ones end with their deadline (the
    console script does not wait for them: it leaves with ``os._exit``)."""
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pkgdoctor-wheels")
    try:
        yield pool
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
