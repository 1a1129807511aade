/*
 * Interop client for the Authsec wire protocol, built on protobuf-c code generated from
 * proto/authsec/v1/authsec.proto.
 *
 * Framing: a 4-byte big-endian length N, then N bytes of one protobuf message
 * (client -> server: authsec.v1.Request, server -> client: authsec.v1.Response).
 *
 * Usage:
 *   token_client HOST PORT CLIENT_ID CLIENT_SECRET [SCOPE]
 *       Sends Request{id=7, authorization="Basic ...", token{grant_type="client_credentials"}}.
 *       Prints: status=<code> error=<oauth error> token=<access_token> expires_in=<n> scope=<scope>
 *   token_client --garbage HOST PORT
 *       Sends one frame whose bytes are not a valid protobuf message; expects response id 0.
 *       Prints: status=<code> id=<id> error=<oauth error>
 *   token_client --unknown-call HOST PORT [CLIENT_ID CLIENT_SECRET]
 *       Sends Request{id=7} plus a hand-encoded field 99 (length-delimited, empty), a call
 *       number the schema does not define; expects response id 7.
 *       Prints: status=<code> id=<id> error=<oauth error>
 *
 * Exit status: 0 when the response status is OK, 2 when it is another status, 1 on a usage,
 * connection, framing or decoding error (including a response id other than the expected one).
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>
#include <unistd.h>

#include "authsec/v1/authsec.pb-c.h"

#define REQUEST_ID 7u
#define MAX_RESPONSE_FRAME (1024u * 1024u) /* 1 MiB */
#define IO_TIMEOUT_SECONDS 10

enum { EXIT_STATUS_OK = 0, EXIT_FAILURE_LOCAL = 1, EXIT_STATUS_NOT_OK = 2 };

/* ---------------------------------------------------------------- encoding helpers */

/* Percent-encodes everything but RFC 3986 unreserved characters (RFC 6749 §2.3.1 asks for
 * application/x-www-form-urlencoded client_id and client_secret inside Basic credentials).
 * Returns a malloc'd string or NULL. */
static char *form_encode(const char *in)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t len = strlen(in);
    if (len > (SIZE_MAX - 1) / 3)
        return NULL;
    char *out = malloc(len * 3 + 1);
    if (out == NULL)
        return NULL;
    char *p = out;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
            c == '.' || c == '_' || c == '~') {
            *p++ = (char)c;
        } else {
            *p++ = '%';
            *p++ = hex[c >> 4];
            *p++ = hex[c & 0x0F];
        }
    }
    *p = '\0';
    return out;
}

/* Standard base64 with padding. Returns a malloc'd NUL-terminated string or NULL. */
static char *base64_encode(const unsigned char *in, size_t len)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (len > (SIZE_MAX / 4) * 3 - 3)
        return NULL;
    size_t out_len = ((len + 2) / 3) * 4;
    char *out = malloc(out_len + 1);
    if (out == NULL)
        return NULL;
    size_t i = 0, o = 0;
    while (i + 3 <= len) {
        uint32_t v = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8) | (uint32_t)in[i + 2];
        out[o++] = alphabet[(v >> 18) & 0x3F];
        out[o++] = alphabet[(v >> 12) & 0x3F];
        out[o++] = alphabet[(v >> 6) & 0x3F];
        out[o++] = alphabet[v & 0x3F];
        i += 3;
    }
    size_t rest = len - i;
    if (rest == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = alphabet[(v >> 18) & 0x3F];
        out[o++] = alphabet[(v >> 12) & 0x3F];
        out[o++] = '=';
        out[o++] = '=';
    } else if (rest == 2) {
        uint32_t v = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8);
        out[o++] = alphabet[(v >> 18) & 0x3F];
        out[o++] = alphabet[(v >> 12) & 0x3F];
        out[o++] = alphabet[(v >> 6) & 0x3F];
        out[o++] = '=';
    }
    out[o] = '\0';
    return out;
}

/* "Basic " + base64(form(client_id) ":" form(client_secret)). Returns malloc'd or NULL. */
static char *basic_authorization(const char *client_id, const char *client_secret)
{
    char *result = NULL, *pair = NULL, *b64 = NULL;
    char *id = form_encode(client_id);
    char *secret = form_encode(client_secret);
    if (id == NULL || secret == NULL)
        goto done;
    size_t id_len = strlen(id), secret_len = strlen(secret);
    pair = malloc(id_len + 1 + secret_len + 1);
    if (pair == NULL)
        goto done;
    memcpy(pair, id, id_len);
    pair[id_len] = ':';
    memcpy(pair + id_len + 1, secret, secret_len + 1);
    b64 = base64_encode((const unsigned char *)pair, id_len + 1 + secret_len);
    if (b64 == NULL)
        goto done;
    size_t b64_len = strlen(b64);
    result = malloc(6 + b64_len + 1);
    if (result == NULL)
        goto done;
    memcpy(result, "Basic ", 6);
    memcpy(result + 6, b64, b64_len + 1);
done:
    free(b64);
    free(pair);
    free(secret);
    free(id);
    return result;
}

/* ---------------------------------------------------------------- socket I/O */

static int connect_to(const char *host, const char *port)
{
    struct addrinfo hints;
    struct addrinfo *list = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(host, port, &hints, &list);
    if (rc != 0) {
        fprintf(stderr, "token_client: cannot resolve %s:%s: %s\n", host, port, gai_strerror(rc));
        return -1;
    }
    int fd = -1;
    int last_errno = 0;
    for (struct addrinfo *ai = list; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0) {
            last_errno = errno;
            continue;
        }
        struct timeval tv = {.tv_sec = IO_TIMEOUT_SECONDS, .tv_usec = 0};
        if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0 ||
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0) {
            last_errno = errno;
            close(fd);
            fd = -1;
            continue;
        }
        int crc;
        do {
            crc = connect(fd, ai->ai_addr, ai->ai_addrlen);
        } while (crc != 0 && errno == EINTR);
        if (crc == 0)
            break;
        last_errno = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(list);
    if (fd < 0)
        fprintf(stderr, "token_client: cannot connect to %s:%s: %s\n", host, port, strerror(last_errno));
    return fd;
}

/* Writes exactly len bytes; 0 on success, -1 on error. */
static int write_all(int fd, const uint8_t *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "token_client: write failed: %s\n", strerror(errno));
            return -1;
        }
        if (n == 0) {
            fprintf(stderr, "token_client: write made no progress\n");
            return -1;
        }
        buf += (size_t)n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads exactly len bytes, looping over short reads; 0 on success, -1 on error or EOF. */
static int read_all(int fd, uint8_t *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = recv(fd, buf + got, len - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                fprintf(stderr, "token_client: read timed out after %d s\n", IO_TIMEOUT_SECONDS);
            else
                fprintf(stderr, "token_client: read failed: %s\n", strerror(errno));
            return -1;
        }
        if (n == 0) {
            fprintf(stderr, "token_client: connection closed after %zu of %zu bytes\n", got, len);
            return -1;
        }
        got += (size_t)n;
    }
    return 0;
}

static int send_frame(int fd, const uint8_t *payload, size_t len)
{
    if (len > UINT32_MAX) {
        fprintf(stderr, "token_client: frame too large to send\n");
        return -1;
    }
    uint8_t header[4] = {
        (uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8), (uint8_t)len,
    };
    if (write_all(fd, header, sizeof header) != 0)
        return -1;
    return write_all(fd, payload, len);
}

/* Reads one frame into a malloc'd buffer (*out, *out_len); 0 on success, -1 on error. */
static int recv_frame(int fd, uint8_t **out, size_t *out_len)
{
    uint8_t header[4];
    *out = NULL;
    *out_len = 0;
    if (read_all(fd, header, sizeof header) != 0)
        return -1;
    uint32_t len = ((uint32_t)header[0] << 24) | ((uint32_t)header[1] << 16) | ((uint32_t)header[2] << 8) |
                   (uint32_t)header[3];
    if (len > MAX_RESPONSE_FRAME) {
        fprintf(stderr, "token_client: response frame of %u bytes exceeds the %u byte cap\n", len,
                MAX_RESPONSE_FRAME);
        return -1;
    }
    /* malloc(0) may return NULL; always allocate at least one byte. */
    uint8_t *buf = malloc(len > 0 ? len : 1);
    if (buf == NULL) {
        fprintf(stderr, "token_client: out of memory\n");
        return -1;
    }
    if (len > 0 && read_all(fd, buf, len) != 0) {
        free(buf);
        return -1;
    }
    *out = buf;
    *out_len = len;
    return 0;
}

/* ---------------------------------------------------------------- request building */

/* Packs a Request into a malloc'd buffer, leaving `extra_len` spare bytes at the end. */
static uint8_t *pack_request(const Authsec__V1__Request *request, size_t extra_len, size_t *packed_len)
{
    size_t len = authsec__v1__request__get_packed_size(request);
    uint8_t *buf = malloc(len + extra_len > 0 ? len + extra_len : 1);
    if (buf == NULL)
        return NULL;
    size_t written = authsec__v1__request__pack(request, buf);
    if (written != len) {
        free(buf);
        return NULL;
    }
    *packed_len = len;
    return buf;
}

enum mode { MODE_TOKEN, MODE_GARBAGE, MODE_UNKNOWN_CALL };

static const char *safe(const char *s) { return s != NULL ? s : ""; }

static void usage(void)
{
    fprintf(stderr, "usage: token_client HOST PORT CLIENT_ID CLIENT_SECRET [SCOPE]\n"
                    "       token_client --garbage HOST PORT\n"
                    "       token_client --unknown-call HOST PORT [CLIENT_ID CLIENT_SECRET]\n");
}

int main(int argc, char **argv)
{
    enum mode mode = MODE_TOKEN;
    const char *host, *port, *client_id = NULL, *client_secret = NULL, *scope = NULL;
    int exit_code = EXIT_FAILURE_LOCAL;
    int fd = -1;
    char *authorization = NULL;
    uint8_t *out = NULL, *in = NULL;
    size_t out_len = 0, in_len = 0;
    Authsec__V1__Response *response = NULL;

    if (argc >= 2 && strcmp(argv[1], "--garbage") == 0) {
        if (argc != 4) {
            usage();
            return EXIT_FAILURE_LOCAL;
        }
        mode = MODE_GARBAGE;
        host = argv[2];
        port = argv[3];
    } else if (argc >= 2 && strcmp(argv[1], "--unknown-call") == 0) {
        if (argc != 4 && argc != 6) {
            usage();
            return EXIT_FAILURE_LOCAL;
        }
        mode = MODE_UNKNOWN_CALL;
        host = argv[2];
        port = argv[3];
        if (argc == 6) {
            client_id = argv[4];
            client_secret = argv[5];
        }
    } else {
        if (argc != 5 && argc != 6) {
            usage();
            return EXIT_FAILURE_LOCAL;
        }
        host = argv[1];
        port = argv[2];
        client_id = argv[3];
        client_secret = argv[4];
        if (argc == 6)
            scope = argv[5];
    }

    if (client_id != NULL) {
        authorization = basic_authorization(client_id, client_secret);
        if (authorization == NULL) {
            fprintf(stderr, "token_client: cannot build the Authorization value\n");
            goto done;
        }
    }

    /* Build the frame payload. */
    if (mode == MODE_GARBAGE) {
        /* 0x0F is field 1 with wire type 7, which does not exist: no protobuf parser may accept
         * it. The trailing bytes are noise. */
        static const uint8_t garbage[] = {0x0F, 0xDE, 0xAD, 0xBE, 0xEF, 0xFF, 0xFF, 0xFF};
        out_len = sizeof garbage;
        out = malloc(out_len);
        if (out == NULL) {
            fprintf(stderr, "token_client: out of memory\n");
            goto done;
        }
        memcpy(out, garbage, out_len);
    } else {
        Authsec__V1__Request request = AUTHSEC__V1__REQUEST__INIT;
        Authsec__V1__TokenRequest token = AUTHSEC__V1__TOKEN_REQUEST__INIT;
        request.id = REQUEST_ID;
        if (authorization != NULL)
            request.authorization = authorization;
        if (mode == MODE_TOKEN) {
            token.grant_type = (char *)"client_credentials";
            if (scope != NULL)
                token.scope = (char *)scope;
            request.call_case = AUTHSEC__V1__REQUEST__CALL_TOKEN;
            request.token = &token;
            out = pack_request(&request, 0, &out_len);
        } else {
            /* Field 99, wire type 2 (length-delimited), length 0: tag (99 << 3) | 2 = 794,
             * varint 0x9A 0x06; then the length byte 0x00. Appended to a valid Request it is
             * an unknown field, i.e. a oneof call this schema does not define. */
            static const uint8_t unknown_call[] = {0x9A, 0x06, 0x00};
            out = pack_request(&request, sizeof unknown_call, &out_len);
            if (out != NULL) {
                memcpy(out + out_len, unknown_call, sizeof unknown_call);
                out_len += sizeof unknown_call;
            }
        }
        if (out == NULL) {
            fprintf(stderr, "token_client: cannot encode the Request\n");
            goto done;
        }
    }

    fd = connect_to(host, port);
    if (fd < 0)
        goto done;
    if (send_frame(fd, out, out_len) != 0)
        goto done;
    if (recv_frame(fd, &in, &in_len) != 0)
        goto done;

    response = authsec__v1__response__unpack(NULL, in_len, in);
    if (response == NULL) {
        fprintf(stderr, "token_client: response frame of %zu bytes is not a valid authsec.v1.Response\n", in_len);
        goto done;
    }

    uint64_t expected_id = mode == MODE_GARBAGE ? 0u : REQUEST_ID;
    /* An absent Status is the default message: code OK, empty strings. */
    int code = response->status != NULL ? (int)response->status->code : 0;
    const char *error = response->status != NULL ? safe(response->status->error) : "";
    const char *message = response->status != NULL ? safe(response->status->message) : "";

    if (mode == MODE_TOKEN) {
        const Authsec__V1__TokenResponse *t =
            response->result_case == AUTHSEC__V1__RESPONSE__RESULT_TOKEN ? response->token : NULL;
        printf("status=%d error=%s token=%s expires_in=%lld scope=%s\n", code, error,
               t != NULL ? safe(t->access_token) : "", t != NULL ? (long long)t->expires_in : 0LL,
               t != NULL ? safe(t->scope) : "");
    } else {
        printf("status=%d id=%llu error=%s\n", code, (unsigned long long)response->id, error);
    }
    if (fflush(stdout) != 0) {
        fprintf(stderr, "token_client: cannot write stdout: %s\n", strerror(errno));
        goto done;
    }
    if (message[0] != '\0')
        fprintf(stderr, "token_client: server message: %s\n", message);

    if (response->id != expected_id) {
        fprintf(stderr, "token_client: response id %llu, expected %llu\n", (unsigned long long)response->id,
                (unsigned long long)expected_id);
        goto done;
    }
    if (mode == MODE_TOKEN && code == 0 && response->result_case != AUTHSEC__V1__RESPONSE__RESULT_TOKEN) {
        fprintf(stderr, "token_client: status OK but the response carries no token result (case %d)\n",
                (int)response->result_case);
        goto done;
    }
    exit_code = code == 0 ? EXIT_STATUS_OK : EXIT_STATUS_NOT_OK;

done:
    if (response != NULL)
        authsec__v1__response__free_unpacked(response, NULL);
    free(in);
    free(out);
    free(authorization);
    if (fd >= 0 && close(fd) != 0 && exit_code != EXIT_FAILURE_LOCAL) {
        fprintf(stderr, "token_client: close failed: %s\n", strerror(errno));
        exit_code = EXIT_FAILURE_LOCAL;
    }
    return exit_code;
}
