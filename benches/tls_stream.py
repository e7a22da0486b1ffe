#!/usr/bin/python3
"""Ceiling: one raw TLS stream over loopback, server -> client, no file system, no protocol.

  tls_stream.py --cert C --key K --bytes N [--port P] [--tls 1.3|1.2] [--ciphers SPEC]

The fallback for tls_stream.c (used where no C compiler is installed): Python makes one call
per 16 KiB TLS record on the receiving side, so this reads lower than the C version.

A forked server process sends N bytes from a 1 MiB buffer in memory over TLS (OpenSSL, as in
curl and vsftpd/pure-ftpd/ProFTPD); the client process receives them. The same certificate as
the servers under test, the cipher suite OpenSSL picks by default (TLS 1.3: AES-256-GCM).
Prints {"mb_s": ..., "seconds": ..., "cipher": ..., "version": ...}: the fastest a TLS byte
stream moves between two processes on these two cores, i.e. the bound for an FTPS transfer.
"""

import argparse
import json
import os
import socket
import ssl
import sys
import time

CHUNK = 1 << 20


def serve(listener, ctx, total):
    conn, _ = listener.accept()
    with ctx.wrap_socket(conn, server_side=True) as tls:
        buf = memoryview(os.urandom(CHUNK))
        left = total
        while left > 0:
            n = min(left, CHUNK)
            tls.sendall(buf[:n])
            left -= n
        tls.unwrap()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--bytes", type=int, default=1 << 30)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--tls", default="1.3")
    p.add_argument("--ciphers", default="")
    a = p.parse_args()

    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(a.cert, a.key)
    cctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    cctx.check_hostname = False
    cctx.verify_mode = ssl.CERT_NONE
    version = ssl.TLSVersion.TLSv1_3 if a.tls == "1.3" else ssl.TLSVersion.TLSv1_2
    for ctx in (sctx, cctx):
        ctx.minimum_version = ctx.maximum_version = version
        if a.ciphers and a.tls == "1.2":
            ctx.set_ciphers(a.ciphers)

    listener = socket.create_server(("127.0.0.1", a.port))
    port = listener.getsockname()[1]
    pid = os.fork()
    if pid == 0:  # the server process
        try:
            serve(listener, sctx, a.bytes)
        finally:
            os._exit(0)
    listener.close()

    sock = socket.create_connection(("127.0.0.1", port))
    with cctx.wrap_socket(sock) as tls:
        buf = bytearray(CHUNK)
        got = 0
        t0 = time.perf_counter()
        while True:
            n = tls.recv_into(buf)
            if n == 0:
                break
            got += n
        seconds = time.perf_counter() - t0
        cipher, version_name = tls.cipher()[0], tls.version()
    os.waitpid(pid, 0)
    if got != a.bytes:
        sys.exit(f"received {got} of {a.bytes} bytes")
    print(json.dumps({"mb_s": got / seconds / 1e6, "seconds": seconds, "cipher": cipher,
                      "version": version_name}))


if __name__ == "__main__":
    main()
