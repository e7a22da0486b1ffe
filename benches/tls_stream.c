/*
 * tls_stream.c - ceiling: one raw TLS stream over loopback, server -> client, in C.
 *
 *   cc -O2 -o tls_stream tls_stream.c -lssl -lcrypto
 *   ./tls_stream CERT KEY BYTES 1.3|1.2 plain|batched
 *
 * A forked server process sends BYTES from a 1 MiB buffer in memory with SSL_write, and the
 * client process reads them with SSL_read and throws them away. Same certificate as the
 * servers under test and OpenSSL's default suite (TLS 1.3: AES-256-GCM; TLS 1.2:
 * ECDHE-RSA-AES256-GCM-SHA384). No file system, no FTP.
 *   plain:   OpenSSL as vsftpd, ProFTPD and pure-ftpd use it: every 16 KiB record is its own
 *            write(2) on the server, and the client reads header and body with two read(2)s.
 *   batched: the server encrypts into a memory BIO and writes 1 MiB of records per write(2);
 *            the client reads ahead 256 KiB per read(2). The same crypto with the per-record
 *            system calls gone: the TLS stream ceiling (what rustls with large writes can
 *            approach).
 * The Python version (tls_stream.py) is the fallback where no C compiler is installed.
 *
 * Prints {"mb_s": ..., "seconds": ..., "cipher": "...", "version": "..."}.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (1 << 20)

static void die(const char *what)
{
    fprintf(stderr, "tls_stream: %s\n", what);
    ERR_print_errors_fp(stderr);
    exit(1);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void write_all(int fd, const char *p, long n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w <= 0)
            die("write");
        p += w;
        n -= w;
    }
}

static void serve(int listener, SSL_CTX *ctx, long long total, int batched)
{
    int fd = accept(listener, NULL, NULL);
    if (fd < 0)
        die("accept");
    SSL *ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    if (SSL_accept(ssl) != 1)
        die("SSL_accept");
    unsigned char *buf = malloc(CHUNK);
    /* random-ish content; AES-GCM does not care, but no all-zero pages either */
    for (int i = 0; i < CHUNK; i++)
        buf[i] = (unsigned char)(i * 2654435761u >> 24);
    BIO *mem = NULL;
    if (batched) {
        /* from now on records go to memory and leave in 1 MiB write(2)s */
        mem = BIO_new(BIO_s_mem());
        SSL_set0_wbio(ssl, mem);
    }
    long long left = total;
    while (left > 0) {
        int n = left < CHUNK ? (int)left : CHUNK;
        if (SSL_write(ssl, buf, n) != n)
            die("SSL_write");
        left -= n;
        if (mem) {
            char *p;
            long pending = BIO_get_mem_data(mem, &p);
            write_all(fd, p, pending);
            (void)BIO_reset(mem);
        }
    }
    SSL_shutdown(ssl);
    if (mem) {
        char *p;
        long pending = BIO_get_mem_data(mem, &p);
        write_all(fd, p, pending);
    }
    SSL_free(ssl);
    close(fd);
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: %s CERT KEY BYTES 1.3|1.2 plain|batched\n", argv[0]);
        return 64;
    }
    long long total = atoll(argv[3]);
    int tls12 = strcmp(argv[4], "1.2") == 0;
    int batched = strcmp(argv[5], "batched") == 0;
    int version = tls12 ? TLS1_2_VERSION : TLS1_3_VERSION;

    SSL_CTX *sctx = SSL_CTX_new(TLS_server_method());
    SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
    if (!sctx || !cctx)
        die("SSL_CTX_new");
    SSL_CTX_set_min_proto_version(sctx, version);
    SSL_CTX_set_max_proto_version(sctx, version);
    SSL_CTX_set_min_proto_version(cctx, version);
    SSL_CTX_set_max_proto_version(cctx, version);
    if (SSL_CTX_use_certificate_chain_file(sctx, argv[1]) != 1 ||
        SSL_CTX_use_PrivateKey_file(sctx, argv[2], SSL_FILETYPE_PEM) != 1)
        die("cannot load certificate or key");
    if (batched) {
        SSL_CTX_set_read_ahead(cctx, 1);
        SSL_CTX_set_default_read_buffer_len(cctx, 256 * 1024);
    }

    int listener = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (bind(listener, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(listener, 1) < 0 ||
        getsockname(listener, (struct sockaddr *)&addr, &len) < 0)
        die("listen");

    pid_t pid = fork();
    if (pid == 0) {
        serve(listener, sctx, total, batched);
        _exit(0);
    }
    close(listener);

    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0)
        die("connect");
    SSL *ssl = SSL_new(cctx);
    SSL_set_fd(ssl, fd);
    if (SSL_connect(ssl) != 1)
        die("SSL_connect");
    unsigned char *buf = malloc(CHUNK);
    long long got = 0;
    double t0 = now();
    for (;;) {
        int n = SSL_read(ssl, buf, CHUNK);
        if (n <= 0)
            break;
        got += n;
    }
    double seconds = now() - t0;
    const char *cipher = SSL_get_cipher_name(ssl);
    const char *ver = SSL_get_version(ssl);
    waitpid(pid, NULL, 0);
    if (got != total) {
        fprintf(stderr, "tls_stream: received %lld of %lld bytes\n", got, total);
        return 1;
    }
    printf("{\"mb_s\": %.1f, \"seconds\": %.4f, \"cipher\": \"%s\", \"version\": \"%s\"}\n",
           got / seconds / 1e6, seconds, cipher, ver);
    return 0;
}
