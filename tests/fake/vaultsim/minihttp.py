"""A minimal HTTP/1.1 client on a socket for the simulated CLI (http.client imports ssl and
email, which costs ~40 ms per `vault` process). One request per connection; bodies framed by
Content-Length, chunked transfer encoding, or connection close."""
import socket


class HTTPError(OSError):
    pass


class Response:
    def __init__(self, sock, method):
        self._sock = sock
        self._buf = bytearray()
        self._eof = False
        line = self._readline()
        parts = line.split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/"):
            raise HTTPError("malformed HTTP response %r" % line[:80])
        self.status = int(parts[1])
        self.headers = {}
        while True:
            h = self._readline()
            if not h:
                break
            k, _, v = h.partition(b":")
            self.headers[k.strip().lower().decode("latin-1")] = v.strip().decode("latin-1")
        self._chunked = "chunked" in self.headers.get("transfer-encoding", "").lower()
        self._chunk_left = 0
        self._chunks_done = False
        if method == "HEAD" or self.status in (204, 304) or 100 <= self.status < 200:
            self._left = 0
        elif "content-length" in self.headers and not self._chunked:
            self._left = int(self.headers["content-length"])
        else:
            self._left = None

    def getheader(self, name, default=None):
        return self.headers.get(name.lower(), default)

    def _fill(self):
        if self._eof:
            return False
        data = self._sock.recv(1 << 20)
        if not data:
            self._eof = True
            return False
        self._buf += data
        return True

    def _readline(self):
        while True:
            i = self._buf.find(b"\r\n")
            if i >= 0:
                line = bytes(self._buf[:i])
                del self._buf[:i + 2]
                return line
            if not self._fill():
                raise HTTPError("connection closed while reading the response")

    def _take(self, n):
        while not self._buf and n:
            if not self._fill():
                return b""
        out = bytes(self._buf[:n])
        del self._buf[:len(out)]
        return out

    def read(self, amt=None):
        """Up to amt body bytes (all remaining when amt is None); b"" at the end."""
        if amt is None:
            out = bytearray()
            while True:
                chunk = self.read(1 << 20)
                if not chunk:
                    return bytes(out)
                out += chunk
        if self._chunked:
            if self._chunks_done:
                return b""
            if self._chunk_left == 0:
                size_line = self._readline()
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self._readline():
                        pass
                    self._chunks_done = True
                    return b""
                self._chunk_left = size
            data = self._take(min(amt, self._chunk_left))
            if not data:
                raise HTTPError("connection closed inside a chunk")
            self._chunk_left -= len(data)
            if self._chunk_left == 0:
                self._readline()
            return data
        if self._left is None:
            return self._take(amt)
        if self._left == 0:
            return b""
        data = self._take(min(amt, self._left))
        if not data:
            raise HTTPError("connection closed before the end of the body")
        self._left -= len(data)
        return data


class Connection:
    def __init__(self, host, port, tls=False, timeout=None):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        if tls:
            import ssl
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            self.sock = ctx.wrap_socket(self.sock, server_hostname=host)
        self.host = host
        self.port = port

    def send_headers(self, method, path, headers):
        lines = ["%s %s HTTP/1.1" % (method, path), "Host: %s:%d" % (self.host, self.port), "Connection: close"]
        lines += ["%s: %s" % kv for kv in headers]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    def send(self, data):
        self.sock.sendall(data)

    def response(self, method):
        return Response(self.sock, method)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
