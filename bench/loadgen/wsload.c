/*
 * wsload: the load generator of roost's benchmark harness.
 *
 * Why C: the generator shares two cores with the server under test, so every delivery it
 * counts must cost it far less than it costs the server.  One thread, one epoll loop,
 * non-blocking sockets, one shared read buffer, frames parsed header-first, outgoing frames
 * coalesced into one write per connection per loop pass.
 *
 * What it checks: every message a member sends must reach every OTHER member of its room
 * exactly once (per-sender order kept), never the sender, never another room.  Any breach,
 * a failed handshake, an unexpected close or a delivery that never arrives is counted as an
 * error; the harness fails loudly when the count is not zero.
 *
 * Protocols: "ws" (plain WebSocket, 64-byte binary frames) and "sio" (engine.io v4 /
 * socket.io v5 over the websocket transport, 64-character text payload in a "m" event).
 *
 * Modes:
 *   load  - rooms x members clients; --window W keeps W messages in flight per room
 *           (closed loop, saturation) or --rate R offers R deliveries/s (open loop, for
 *           latency).  Phases: connect, warmup, measure, drain.
 *   idle  - --idle-steps N1,N2,... opens connections up to each step, reports the
 *           handshake rate, then waits for a line on stdin before the next step.
 *   http  - --http C keeps C HTTP/1.1 keep-alive connections, each with one request in
 *           flight: GET <prefix><room-name><i>, where i counts up (every request a new key:
 *           cold activations) or, with --key-space K, cycles over K keys.  The response must
 *           be 200 with the key itself as its body.  Timed phases like load mode, or with
 *           --count N exactly N requests and no warm-up.  With --transfer each request is
 *           instead POST <prefix> with a JSON transfer body (see rpc) and must answer 200.
 *   rpc   - --rpc C keeps C WebSocket clients on <prefix> with the roost.v1.cbor subprotocol,
 *           each with one envelope call in flight: transfer(from_account, to_account, amount)
 *           with accounts drawn from --accounts N by Zipf --alpha A (0 = uniform; from != to)
 *           and amount 1..100.  A reply must be {"type": "result", "id": <the call's id>,
 *           "value": <map of 2>}; an error reply is counted as an error.  Phases as http.
 *   http and rpc take --rate R too: R calls/s offered on a fixed schedule (open loop, for
 *           latency at a given load) by whichever connection is free; a call that finds
 *           none waits, and its latency counts from when it was due, so a server that falls
 *           behind shows it in p99 (no coordinated omission).
 *
 * Output: one JSON object per line on stdout ({"event": ...}); diagnostics on stderr.
 * Usage: run it without arguments.
 * The payload's first 8 bytes are the send time (CLOCK_MONOTONIC ns), then room, message
 * id and sender index (u32 each, little endian); the rest is filler.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PAYLOAD 64
#define PEND_MAX 1024            /* longest partial frame or handshake kept per connection */
#define READ_BUF (256 * 1024)
#define STDIN_TAG UINT32_MAX
#define ACCEPT_KEY "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" /* RFC 6455 sample key's accept value */
#define SIO_PREFIX "42[\"m\",\""
#define SIO_PREFIX_LEN 8
#define SIO_FRAME_LEN (SIO_PREFIX_LEN + PAYLOAD + 2)

enum state { ST_IDLE, ST_CONNECTING, ST_HANDSHAKE, ST_SIO_OPEN, ST_SIO_CONNECT, ST_OPEN, ST_DEAD };
enum phase { PH_CONNECT, PH_WARMUP, PH_MEASURE, PH_DRAIN, PH_DONE };

typedef struct conn {
    int fd;
    uint8_t state;
    uint8_t dirty;
    uint8_t want_out;
    uint32_t room, member;
    uint32_t pend_len;
    uint32_t out_len, out_off, out_cap;
    char *out;
    uint32_t *last_from; /* per sender: last message id + 1 (0 = none yet) */
    uint64_t http_key;   /* http mode: key index of the request in flight */
    uint64_t http_sent;  /* http mode: when it was sent (0 = none in flight) */
    char pend[PEND_MAX];
} conn;

typedef struct room {
    uint32_t first, members;
    uint32_t next_id, next_sender, inflight;
    uint32_t *slot_id;
    uint32_t *remaining;
} room;

/* ---- options ---- */
static const char *o_host = "127.0.0.1";
static int o_port;
static int o_sio;
static const char *o_prefix = "/relay/";
static const char *o_room_name = "r";
static uint32_t o_rooms = 1, o_members = 2;
static uint32_t o_window = 8;
static double o_rate;            /* deliveries/s; 0 = closed loop */
static double o_warmup = 1, o_duration = 3, o_drain = 5;
static uint32_t o_concurrency = 64;
static uint32_t o_idle_steps[16];
static int o_idle_nsteps;
static uint32_t o_room_size = 100;
static long o_batch_us; /* closed loop: pause between passes so each read carries more frames */
static uint32_t o_http;  /* http mode: keep-alive connections */
static uint64_t o_key_space, o_count;
static uint32_t o_rpc;       /* rpc mode: WebSocket envelope clients */
static int o_transfer;       /* http mode: POST transfer bodies */
static uint32_t o_accounts = 100000;
static double o_alpha;       /* Zipf exponent of the account draws; 0 = uniform */
static uint64_t o_seed = 42;
static int o_calls;          /* http or rpc: one request or call in flight per connection */

/* ---- state ---- */
static conn *conns;
static room *rooms;
static uint32_t nconns, slots_mask;
static int ep;
static char *rbuf;
static uint32_t *dirty;
static uint32_t ndirty;
static enum phase phase = PH_CONNECT;
static uint64_t t_phase;
static uint32_t next_to_connect, pending_connects, open_conns, connect_target;
static uint64_t t_connect_start, t_connect_progress;
#define CONNECT_STALL_NS 10000000000ull /* no handshake completed for 10 s: give up */
static uint64_t deliveries_measure, deliveries_total, sent_total, sent_measure, skipped;
static uint64_t t_measure_start, t_measure_end, last_progress;
static int drain_stalled; /* deliveries stopped arriving with messages still in flight */
static uint64_t errors;
static uint64_t err_kind[16];
static const char *err_names[16] = {"handshake", "closed", "protocol", "cross_room", "echo",
                                    "bad_sender", "order", "unexpected", "lost", "connect",
                                    "payload", "overflow", "http_status", "http_body",
                                    "rpc_error", "rpc_reply"};
enum { E_HANDSHAKE, E_CLOSED, E_PROTOCOL, E_CROSS, E_ECHO, E_SENDER, E_ORDER, E_UNEXPECTED,
       E_LOST, E_CONNECT, E_PAYLOAD, E_OVERFLOW, E_STATUS, E_BODY, E_RPC, E_REPLY, E_KINDS };
static uint32_t xs = 2463534242u;
static double rate_msgs; /* messages/s in open loop */
static uint64_t rate_sent, t_rate_start;
static uint32_t rate_room, inflight_cap;
static uint32_t *free_calls, n_free_calls; /* --rate in http/rpc: idle connections */
static uint64_t rate_backlog_max;          /* most calls due at once with none free */
static int stdin_open = 1, stdin_lines;
static int idle_step;
static uint64_t http_next_key, http_issued, http_answered, http_inflight, http_lost;

/* latency histogram: log-linear buckets over nanoseconds, ~1.5% precision */
#define HBUCKETS 4096
static uint64_t hist[HBUCKETS];
static uint64_t hist_n, hist_max;

static inline uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint32_t hidx(uint64_t v) {
    if (v < 128) return (uint32_t)v;
    int msb = 63 - __builtin_clzll(v);
    int shift = msb - 6;
    return 128 + (uint32_t)(shift - 1) * 64 + (uint32_t)((v >> shift) - 64);
}

static inline uint64_t hvalue(uint32_t i) {
    if (i < 128) return i;
    uint32_t shift = (i - 128) / 64 + 1, sub = (i - 128) % 64 + 64;
    return ((uint64_t)sub << shift) + ((1ull << shift) >> 1); /* bucket midpoint */
}

static inline void hrecord(uint64_t v) {
    uint32_t i = hidx(v);
    if (i >= HBUCKETS) i = HBUCKETS - 1;
    hist[i]++;
    hist_n++;
    if (v > hist_max) hist_max = v;
}

static double hpct(double p) {
    if (!hist_n) return 0;
    uint64_t want = (uint64_t)(p / 100.0 * (double)hist_n);
    if (want >= hist_n) want = hist_n - 1;
    uint64_t seen = 0;
    for (uint32_t i = 0; i < HBUCKETS; i++) {
        seen += hist[i];
        if (seen > want) return (double)hvalue(i) / 1000.0;
    }
    return (double)hist_max / 1000.0;
}

static void error_at(int kind, uint32_t ci, const char *fmt, ...) {
    errors++;
    err_kind[kind]++;
    if (errors <= 10) {
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "wsload: error %s on connection %u: ", err_names[kind], ci);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
    }
}

static void die(const char *msg) {
    fprintf(stderr, "wsload: %s: %s\n", msg, strerror(errno));
    exit(2);
}

/* ---- output ---- */

static void mark_dirty(uint32_t ci) {
    conn *c = &conns[ci];
    if (!c->dirty) {
        c->dirty = 1;
        dirty[ndirty++] = ci;
    }
}

static char *out_reserve(conn *c, uint32_t n) {
    if (c->out_off && c->out_off == c->out_len) c->out_off = c->out_len = 0;
    if (c->out_len + n > c->out_cap) {
        if (c->out_off) { /* compact first */
            memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
            c->out_len -= c->out_off;
            c->out_off = 0;
        }
        if (c->out_len + n > c->out_cap) {
            uint32_t cap = c->out_cap ? c->out_cap : 512;
            while (cap < c->out_len + n) cap *= 2;
            c->out = realloc(c->out, cap);
            if (!c->out) die("realloc");
            c->out_cap = cap;
        }
    }
    char *p = c->out + c->out_len;
    c->out_len += n;
    return p;
}

static inline uint32_t rnd(void) {
    xs ^= xs << 13;
    xs ^= xs >> 17;
    xs ^= xs << 5;
    return xs;
}

/* Queue one masked client frame (payload < 126 bytes). */
static void queue_frame(uint32_t ci, uint8_t opcode, const char *payload, uint32_t len) {
    conn *c = &conns[ci];
    uint8_t *p = (uint8_t *)out_reserve(c, 6 + len);
    uint32_t mask = rnd();
    uint8_t m[4];
    memcpy(m, &mask, 4);
    p[0] = 0x80 | opcode;
    p[1] = 0x80 | (uint8_t)len;
    memcpy(p + 2, m, 4);
    for (uint32_t i = 0; i < len; i++) p[6 + i] = (uint8_t)payload[i] ^ m[i & 3];
    mark_dirty(ci);
}

static void update_events(uint32_t ci, int want_out) {
    conn *c = &conns[ci];
    if (c->want_out == want_out) return;
    struct epoll_event ev = {.events = EPOLLIN | (want_out ? EPOLLOUT : 0), .data.u32 = ci};
    if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) < 0) die("epoll_ctl mod");
    c->want_out = (uint8_t)want_out;
}

static void kill_conn(uint32_t ci) {
    conn *c = &conns[ci];
    if (c->state == ST_DEAD) return;
    int was_open = c->state == ST_OPEN;
    int was_pending = c->state != ST_OPEN && c->state != ST_IDLE;
    c->state = ST_DEAD;
    if (c->http_sent) { /* http mode: its request will never be answered */
        c->http_sent = 0;
        http_inflight--;
        http_lost++;
    }
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    if (was_open) open_conns--;
    if (was_pending) pending_connects--;
}

static void flush_conn(uint32_t ci) {
    conn *c = &conns[ci];
    c->dirty = 0;
    if (c->state == ST_DEAD) return;
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                update_events(ci, 1);
                return;
            }
            if (errno == EINTR) continue;
            error_at(E_CLOSED, ci, "send: %s", strerror(errno));
            kill_conn(ci);
            return;
        }
        c->out_off += (uint32_t)n;
    }
    c->out_off = c->out_len = 0;
    if (c->want_out) update_events(ci, 0);
}

static void flush_all(void) {
    for (uint32_t i = 0; i < ndirty; i++) flush_conn(dirty[i]);
    ndirty = 0;
}

/* ---- messages ---- */

static const char hexd[] = "0123456789abcdef";

static void put_hex(char *p, uint64_t v, int digits) {
    for (int i = digits - 1; i >= 0; i--, v >>= 4) p[i] = hexd[v & 15];
}

static int get_hex(const char *p, int digits, uint64_t *out) {
    uint64_t v = 0;
    for (int i = 0; i < digits; i++) {
        char ch = p[i];
        uint64_t d;
        if (ch >= '0' && ch <= '9') d = (uint64_t)(ch - '0');
        else if (ch >= 'a' && ch <= 'f') d = (uint64_t)(ch - 'a' + 10);
        else return -1;
        v = v << 4 | d;
    }
    *out = v;
    return 0;
}

/* Send the room's next message from its next sender; returns 0 if the room is full. */
static int send_message(uint32_t ri, uint64_t ts) {
    room *r = &rooms[ri];
    if (r->inflight >= inflight_cap) return 0;
    /* messages complete out of order: skip ids whose slot is still busy (4x the cap) */
    uint32_t id, slot;
    do {
        id = r->next_id++;
        slot = id & slots_mask;
    } while (r->remaining[slot]);
    uint32_t sender = r->next_sender;
    r->next_sender = (sender + 1) % r->members;
    r->slot_id[slot] = id;
    r->remaining[slot] = r->members - 1;
    r->inflight++;
    uint32_t ci = r->first + sender;
    char payload[SIO_FRAME_LEN];
    if (o_sio) {
        memcpy(payload, SIO_PREFIX, SIO_PREFIX_LEN);
        char *p = payload + SIO_PREFIX_LEN;
        put_hex(p, ts, 16);
        put_hex(p + 16, ri, 8);
        put_hex(p + 24, id, 8);
        put_hex(p + 32, sender, 8);
        memset(p + 40, 'x', PAYLOAD - 40);
        p[PAYLOAD] = '"';
        p[PAYLOAD + 1] = ']';
        queue_frame(ci, 0x1, payload, SIO_FRAME_LEN);
    } else {
        memcpy(payload, &ts, 8);
        memcpy(payload + 8, &ri, 4);
        memcpy(payload + 12, &id, 4);
        memcpy(payload + 16, &sender, 4);
        memset(payload + 20, 'x', PAYLOAD - 20);
        queue_frame(ci, 0x2, payload, PAYLOAD);
    }
    sent_total++;
    if (phase == PH_MEASURE) sent_measure++;
    return 1;
}

static void on_delivery(uint32_t ci, uint64_t ts, uint32_t ri, uint32_t id, uint32_t sender,
                        uint64_t now) {
    conn *c = &conns[ci];
    if (!c->last_from) return error_at(E_UNEXPECTED, ci, "message on an idle connection");
    if (ri != c->room) return error_at(E_CROSS, ci, "room %u got a message of room %u", c->room, ri);
    room *r = &rooms[ri];
    if (sender == c->member) return error_at(E_ECHO, ci, "message %u echoed to its sender", id);
    if (sender >= r->members) return error_at(E_SENDER, ci, "sender %u out of range", sender);
    if (id + 1 <= c->last_from[sender])
        return error_at(E_ORDER, ci, "message %u from %u after %u", id, sender,
                        c->last_from[sender] - 1);
    c->last_from[sender] = id + 1;
    uint32_t slot = id & slots_mask;
    if (r->slot_id[slot] != id || !r->remaining[slot])
        return error_at(E_UNEXPECTED, ci, "message %u not in flight", id);
    deliveries_total++;
    last_progress = now;
    if (phase == PH_MEASURE) {
        deliveries_measure++;
        hrecord(now > ts ? now - ts : 0);
    }
    if (--r->remaining[slot] == 0) {
        r->inflight--;
        if (o_rate == 0 && (phase == PH_WARMUP || phase == PH_MEASURE)) send_message(ri, now);
    }
}

static void on_sio_text(uint32_t ci, const char *p, uint32_t len, uint64_t now) {
    conn *c = &conns[ci];
    if (len == SIO_FRAME_LEN && memcmp(p, SIO_PREFIX, SIO_PREFIX_LEN) == 0) {
        if (c->state != ST_OPEN) return error_at(E_PROTOCOL, ci, "event before connect");
        const char *q = p + SIO_PREFIX_LEN;
        uint64_t ts, ri, id, sender;
        if (get_hex(q, 16, &ts) || get_hex(q + 16, 8, &ri) || get_hex(q + 24, 8, &id) ||
            get_hex(q + 32, 8, &sender) || q[PAYLOAD - 1] != 'x')
            return error_at(E_PAYLOAD, ci, "payload altered");
        on_delivery(ci, ts, (uint32_t)ri, (uint32_t)id, (uint32_t)sender, now);
    } else if (len == 1 && p[0] == '2') { /* engine.io ping */
        queue_frame(ci, 0x1, "3", 1);
    } else if (len >= 1 && p[0] == '0' && c->state == ST_SIO_OPEN) {
        c->state = ST_SIO_CONNECT;
        queue_frame(ci, 0x1, "40", 2);
    } else if (len >= 2 && p[0] == '4' && p[1] == '0' && c->state == ST_SIO_CONNECT) {
        c->state = ST_OPEN;
        pending_connects--;
        open_conns++;
        t_connect_progress = now_ns();
    } else {
        error_at(E_PROTOCOL, ci, "unexpected socket.io packet %.*s", (int)(len > 40 ? 40 : len), p);
    }
}

static void on_rpc_reply(uint32_t ci, const uint8_t *p, uint32_t n, uint64_t now);

/* Parse every complete frame in buf; return the number of bytes consumed. */
static uint32_t parse_frames(uint32_t ci, const uint8_t *buf, uint32_t len, uint64_t now) {
    uint32_t off = 0;
    while (len - off >= 2) {
        conn *c = &conns[ci];
        if (c->state == ST_DEAD) return len;
        const uint8_t *f = buf + off;
        uint8_t op = f[0] & 0x0f;
        uint64_t plen = f[1] & 0x7f;
        uint32_t hdr = 2;
        if (f[1] & 0x80) {
            error_at(E_PROTOCOL, ci, "masked server frame");
            kill_conn(ci);
            return len;
        }
        if (plen == 126) {
            if (len - off < 4) break;
            plen = (uint64_t)f[2] << 8 | f[3];
            hdr = 4;
        } else if (plen == 127) {
            if (len - off < 10) break;
            plen = 0;
            for (int i = 0; i < 8; i++) plen = plen << 8 | f[2 + i];
            hdr = 10;
        }
        if (hdr + plen > PEND_MAX) {
            error_at(E_PROTOCOL, ci, "frame of %" PRIu64 " bytes", plen);
            kill_conn(ci);
            return len;
        }
        if (len - off < hdr + plen) break;
        const char *p = (const char *)f + hdr;
        uint32_t n = (uint32_t)plen;
        off += hdr + n;
        if (!(f[0] & 0x80)) {
            error_at(E_PROTOCOL, ci, "fragmented frame");
            continue;
        }
        switch (op) {
        case 0x2:
            if (o_rpc) {
                on_rpc_reply(ci, (const uint8_t *)p, n, now);
                break;
            }
            if (o_sio || n != PAYLOAD || p[PAYLOAD - 1] != 'x') {
                error_at(E_PAYLOAD, ci, "binary frame of %u bytes", n);
                break;
            }
            {
                uint64_t ts;
                uint32_t ri, id, sender;
                memcpy(&ts, p, 8);
                memcpy(&ri, p + 8, 4);
                memcpy(&id, p + 12, 4);
                memcpy(&sender, p + 16, 4);
                on_delivery(ci, ts, ri, id, sender, now);
            }
            break;
        case 0x1:
            if (o_sio) on_sio_text(ci, p, n, now);
            else error_at(E_PAYLOAD, ci, "text frame");
            break;
        case 0x8:
            error_at(E_CLOSED, ci, "server sent close %d", n >= 2 ? (uint8_t)p[0] << 8 | (uint8_t)p[1] : 0);
            kill_conn(ci);
            return len;
        case 0x9:
            queue_frame(ci, 0xA, p, n);
            break;
        case 0xA:
            break;
        default:
            error_at(E_PROTOCOL, ci, "opcode %u", op);
        }
    }
    return off;
}

/* ---- transfers: account draws, the CBOR call, the reply ---- */

static uint64_t draw_state;
static double *zipf_cdf; /* alpha > 0: cumulative probability of ranks 0..N-1 */

static inline uint64_t rnd64(void) { /* splitmix64: seeded, the same draws for every server */
    uint64_t z = (draw_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void zipf_init(void) {
    draw_state = o_seed;
    if (o_alpha <= 0) return;
    zipf_cdf = malloc(sizeof *zipf_cdf * o_accounts);
    if (!zipf_cdf) die("malloc");
    double sum = 0;
    for (uint32_t k = 0; k < o_accounts; k++) zipf_cdf[k] = sum += pow((double)k + 1, -o_alpha);
    for (uint32_t k = 0; k < o_accounts; k++) zipf_cdf[k] /= sum;
}

/* An account: rank k (account id k) with probability ~ 1/(k+1)^alpha. */
static uint32_t draw_account(void) {
    if (!zipf_cdf) return (uint32_t)(rnd64() % o_accounts);
    double u = (double)(rnd64() >> 11) * 0x1.0p-53;
    uint32_t lo = 0, hi = o_accounts - 1;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (zipf_cdf[mid] > u) hi = mid;
        else lo = mid + 1;
    }
    return lo;
}

static void draw_transfer(uint32_t *from, uint32_t *to, uint32_t *amount) {
    *from = draw_account();
    do *to = draw_account();
    while (*to == *from);
    *amount = 1 + (uint32_t)(rnd64() % 100);
}

static uint8_t *cbor_uint(uint8_t *p, uint64_t v) { /* major type 0, shortest form */
    if (v < 24) { *p++ = (uint8_t)v; return p; }
    int n = v < 0x100 ? 1 : v < 0x10000 ? 2 : v <= 0xffffffffull ? 4 : 8;
    *p++ = (uint8_t)(0x18 + (n == 1 ? 0 : n == 2 ? 1 : n == 4 ? 2 : 3));
    for (int i = n - 1; i >= 0; i--) *p++ = (uint8_t)(v >> (8 * i));
    return p;
}

#define LIT(s) memcpy(p, s, sizeof s - 1), p += sizeof s - 1

/* {"type":"call","id":ID,"method":"transfer","args":{"from_account":F,"to_account":T,
   "amount":A}} in CBOR, written from a template: at most 88 bytes. */
static uint32_t cbor_transfer(uint8_t *buf, uint64_t id, uint32_t from, uint32_t to,
                              uint32_t amount) {
    uint8_t *p = buf;
    LIT("\xa4" "\x64" "type" "\x64" "call" "\x62" "id");
    p = cbor_uint(p, id);
    LIT("\x66" "method" "\x68" "transfer" "\x64" "args" "\xa3" "\x6c" "from_account");
    p = cbor_uint(p, from);
    LIT("\x6a" "to_account");
    p = cbor_uint(p, to);
    LIT("\x66" "amount");
    p = cbor_uint(p, amount);
    return (uint32_t)(p - buf);
}

/* One CBOR head (definite lengths only); 0 when malformed or truncated. */
static int cbor_head(const uint8_t **pp, const uint8_t *end, int *major, uint64_t *val) {
    const uint8_t *p = *pp;
    if (p >= end) return 0;
    uint8_t ib = *p++, ai = ib & 31;
    *major = ib >> 5;
    if (ai < 24) {
        *val = ai;
    } else if (ai <= 27) {
        int n = 1 << (ai - 24);
        if (end - p < n) return 0;
        uint64_t v = 0;
        for (int i = 0; i < n; i++) v = v << 8 | p[i];
        p += n;
        *val = v;
    } else {
        return 0;
    }
    *pp = p;
    return 1;
}

static int cbor_skip(const uint8_t **pp, const uint8_t *end, int depth) {
    int major;
    uint64_t v;
    if (depth > 16 || !cbor_head(pp, end, &major, &v)) return 0;
    switch (major) {
    case 0: case 1: case 7: return 1;
    case 2: case 3:
        if ((uint64_t)(end - *pp) < v) return 0;
        *pp += v;
        return 1;
    case 4: case 5:
        for (uint64_t i = 0; i < (major == 5 ? 2 * v : v); i++)
            if (!cbor_skip(pp, end, depth + 1)) return 0;
        return 1;
    default: return 0; /* tags: never sent by roost */
    }
}

static int cbor_text_is(const uint8_t **pp, const uint8_t *end, const char *want,
                        const uint8_t **text, uint64_t *len) {
    int major;
    if (!cbor_head(pp, end, &major, len) || major != 3 || (uint64_t)(end - *pp) < *len) return -1;
    *text = *pp;
    *pp += *len;
    return want && *len == strlen(want) && memcmp(*text, want, *len) == 0;
}

static void call_done(uint32_t ci, uint64_t now);

static void rpc_send(uint32_t ci, uint64_t now) {
    if (o_count && http_issued >= o_count) return;
    conn *c = &conns[ci];
    uint32_t from, to, amount;
    draw_transfer(&from, &to, &amount);
    uint8_t payload[96];
    uint64_t id = ++http_next_key;
    uint32_t n = cbor_transfer(payload, id, from, to, amount);
    http_issued++;
    http_inflight++;
    c->http_key = id;
    c->http_sent = now;
    queue_frame(ci, 0x2, (const char *)payload, n);
}

/* A binary frame in rpc mode: the reply to the connection's call in flight. */
static void on_rpc_reply(uint32_t ci, const uint8_t *p, uint32_t n, uint64_t now) {
    conn *c = &conns[ci];
    const uint8_t *end = p + n, *text;
    uint64_t entries, len, id = 0;
    int major, is_result = -1, has_id = 0, value_ok = 0;
    const uint8_t *msg = NULL;
    uint64_t msg_len = 0;
    if (!cbor_head(&p, end, &major, &entries) || major != 5)
        return error_at(E_REPLY, ci, "reply is not a map");
    for (uint64_t i = 0; i < entries; i++) {
        const uint8_t *key;
        uint64_t key_len;
        if (cbor_text_is(&p, end, NULL, &key, &key_len) < 0)
            return error_at(E_REPLY, ci, "non-text key");
        if (key_len == 4 && memcmp(key, "type", 4) == 0) {
            int r = cbor_text_is(&p, end, "result", &text, &len);
            if (r < 0) return error_at(E_REPLY, ci, "type is not text");
            is_result = r;
        } else if (key_len == 2 && memcmp(key, "id", 2) == 0) {
            if (!cbor_head(&p, end, &major, &id) || major != 0)
                return error_at(E_REPLY, ci, "id is not an unsigned integer");
            has_id = 1;
        } else if (key_len == 5 && memcmp(key, "value", 5) == 0) {
            const uint8_t *q = p;
            uint64_t size;
            value_ok = cbor_head(&q, end, &major, &size) && major == 5 && size == 2;
            if (!cbor_skip(&p, end, 1)) return error_at(E_REPLY, ci, "malformed value");
        } else if (key_len == 7 && memcmp(key, "message", 7) == 0) {
            if (cbor_text_is(&p, end, NULL, &msg, &msg_len) < 0)
                return error_at(E_REPLY, ci, "message is not text");
        } else if (!cbor_skip(&p, end, 1)) {
            return error_at(E_REPLY, ci, "malformed entry");
        }
    }
    if (p != end || is_result < 0 || !has_id) return error_at(E_REPLY, ci, "not an envelope");
    if (!c->http_sent || id != c->http_key)
        return error_at(E_UNEXPECTED, ci, "reply to call %" PRIu64 ", expected %" PRIu64, id,
                        c->http_key);
    if (!is_result)
        error_at(E_RPC, ci, "call %" PRIu64 ": %.*s", id, (int)(msg_len > 80 ? 80 : msg_len),
                 msg ? (const char *)msg : "");
    else if (!value_ok)
        error_at(E_REPLY, ci, "call %" PRIu64 ": value is not a map of 2", id);
    http_answered++;
    http_inflight--;
    deliveries_total++;
    last_progress = now;
    if (phase == PH_MEASURE) {
        deliveries_measure++;
        hrecord(now - c->http_sent);
    }
    c->http_sent = 0;
    call_done(ci, now);
}

/* ---- http mode ---- */

static void http_send(uint32_t ci, uint64_t now) {
    if (o_count && http_issued >= o_count) return;
    conn *c = &conns[ci];
    uint64_t key = o_key_space ? http_next_key % o_key_space : http_next_key;
    http_next_key++;
    http_issued++;
    http_inflight++;
    c->http_key = key;
    c->http_sent = now;
    char req[512];
    int n;
    if (o_transfer) {
        uint32_t from, to, amount;
        draw_transfer(&from, &to, &amount);
        char body[128];
        int bn = snprintf(body, sizeof body,
                          "{\"from_account\":%u,\"to_account\":%u,\"amount\":%u}", from, to,
                          amount);
        n = snprintf(req, sizeof req,
                     "POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
                     "Content-Length: %d\r\n\r\n%s",
                     o_prefix, o_host, o_port, bn, body);
    } else {
        n = snprintf(req, sizeof req, "GET %s%s%" PRIu64 " HTTP/1.1\r\nHost: %s:%d\r\n\r\n",
                     o_prefix, o_room_name, key, o_host, o_port);
    }
    memcpy(out_reserve(c, (uint32_t)n), req, (size_t)n);
    mark_dirty(ci);
}

/* Parse complete responses in buf (one request in flight, so at most one); return bytes used. */
static uint32_t parse_http(uint32_t ci, const char *buf, uint32_t len, uint64_t now) {
    conn *c = &conns[ci];
    const char *end = memmem(buf, len, "\r\n\r\n", 4);
    if (!end) return 0;
    uint32_t hlen = (uint32_t)(end - buf) + 4;
    uint64_t body_len = 0;
    const char *p = buf;
    while (p < end) { /* find content-length among the header lines */
        const char *eol = memmem(p, (size_t)(end + 2 - p), "\r\n", 2);
        if (!eol) break;
        if (eol - p > 15 && strncasecmp(p, "content-length:", 15) == 0)
            body_len = strtoull(p + 15, NULL, 10);
        p = eol + 2;
    }
    if (hlen + body_len > PEND_MAX) {
        error_at(E_PROTOCOL, ci, "response of %" PRIu64 " bytes", hlen + body_len);
        kill_conn(ci);
        return len;
    }
    if (len < hlen + body_len) return 0;
    if (!c->http_sent) {
        error_at(E_UNEXPECTED, ci, "response without a request");
        return hlen + (uint32_t)body_len;
    }
    if (len < 12 || memcmp(buf, "HTTP/1.1 200", 12) != 0) {
        error_at(E_STATUS, ci, "key %" PRIu64 ": %.*s", c->http_key, (int)(hlen > 60 ? 60 : hlen),
                 buf);
    } else if (!o_transfer) {
        char want[128];
        int wn = snprintf(want, sizeof want, "%s%" PRIu64, o_room_name, c->http_key);
        if ((uint64_t)wn != body_len || memcmp(buf + hlen, want, (size_t)wn) != 0)
            error_at(E_BODY, ci, "key %" PRIu64 ": body %.*s", c->http_key,
                     (int)(body_len > 60 ? 60 : body_len), buf + hlen);
    }
    http_answered++;
    http_inflight--;
    deliveries_total++;
    last_progress = now;
    if (phase == PH_MEASURE) {
        deliveries_measure++;
        hrecord(now - c->http_sent);
    }
    c->http_sent = 0;
    call_done(ci, now);
    return hlen + (uint32_t)body_len;
}

/* A call goes out now; its latency counts from `at` (now, or when --rate made it due). */
static void call_send(uint32_t ci, uint64_t at) {
    if (o_rpc) rpc_send(ci, at);
    else http_send(ci, at);
}

/* --rate: send every call now due on a free connection (the rest wait for one). */
static void open_loop_calls(uint64_t now) {
    if (phase != PH_WARMUP && phase != PH_MEASURE) return;
    uint64_t due = (uint64_t)((double)(now - t_rate_start) / 1e9 * rate_msgs);
    while (rate_sent < due && n_free_calls) {
        uint32_t ci = free_calls[--n_free_calls];
        if (conns[ci].state != ST_OPEN) continue;
        rate_sent++;
        call_send(ci, t_rate_start + (uint64_t)((double)rate_sent * 1e9 / rate_msgs));
    }
    if (due > rate_sent && due - rate_sent > rate_backlog_max) rate_backlog_max = due - rate_sent;
}

/* A connection's call was answered: closed loop, its next call; open loop, it is free. */
static void call_done(uint32_t ci, uint64_t now) {
    if (o_rate > 0) {
        free_calls[n_free_calls++] = ci;
        open_loop_calls(now);
    } else if (phase == PH_WARMUP || phase == PH_MEASURE) {
        call_send(ci, now);
    }
}

static void on_handshake(uint32_t ci, char *buf, uint32_t len, uint32_t *consumed) {
    conn *c = &conns[ci];
    *consumed = 0;
    char *end = memmem(buf, len, "\r\n\r\n", 4);
    if (!end) {
        if (len >= PEND_MAX) {
            error_at(E_HANDSHAKE, ci, "response too long");
            kill_conn(ci);
        }
        return;
    }
    uint32_t hlen = (uint32_t)(end - buf) + 4;
    if (len < 12 || memcmp(buf, "HTTP/1.1 101", 12) != 0 || !memmem(buf, hlen, ACCEPT_KEY, 28) ||
        (o_rpc && !memmem(buf, hlen, "roost.v1.cbor", 13))) {
        error_at(E_HANDSHAKE, ci, "%.*s", (int)(hlen > 60 ? 60 : hlen), buf);
        kill_conn(ci);
        return;
    }
    *consumed = hlen;
    if (o_sio) {
        c->state = ST_SIO_OPEN;
    } else {
        c->state = ST_OPEN;
        pending_connects--;
        open_conns++;
        t_connect_progress = now_ns();
    }
}

static void on_readable(uint32_t ci, uint64_t now) {
    conn *c = &conns[ci];
    for (;;) {
        uint32_t have = c->pend_len;
        memcpy(rbuf, c->pend, have);
        ssize_t n = recv(c->fd, rbuf + have, READ_BUF - have, 0);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            if (errno == EINTR) continue;
            error_at(E_CLOSED, ci, "recv: %s", strerror(errno));
            kill_conn(ci);
            return;
        }
        if (n == 0) {
            error_at(E_CLOSED, ci, "server closed the connection");
            kill_conn(ci);
            return;
        }
        uint32_t len = have + (uint32_t)n, off = 0;
        if (o_http) {
            uint32_t used;
            while (off < len && c->state != ST_DEAD &&
                   (used = parse_http(ci, rbuf + off, len - off, now)) > 0)
                off += used;
        } else if (c->state == ST_HANDSHAKE) {
            on_handshake(ci, rbuf, len, &off);
            if (c->state == ST_DEAD) return;
        }
        if (!o_http && c->state != ST_HANDSHAKE)
            off += parse_frames(ci, (uint8_t *)rbuf + off, len - off, now);
        if (c->state == ST_DEAD) return;
        uint32_t rest = len - off;
        if (rest > PEND_MAX) {
            error_at(E_PROTOCOL, ci, "oversized partial frame");
            kill_conn(ci);
            return;
        }
        memcpy(c->pend, rbuf + off, rest);
        c->pend_len = rest;
        if ((size_t)n < READ_BUF - have) return; /* drained: let epoll tell us about more */
    }
}

/* ---- connecting ---- */

static void start_connect(uint32_t ci) {
    conn *c = &conns[ci];
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket (raise the fd limit?)");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)o_port)};
    inet_pton(AF_INET, o_host, &sa.sin_addr);
    c->fd = fd;
    c->state = ST_CONNECTING;
    pending_connects++;
    struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = ci};
    c->want_out = 1;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) die("epoll_ctl add");
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS) {
        error_at(E_CONNECT, ci, "connect: %s", strerror(errno));
        kill_conn(ci);
    }
}

static void on_connected(uint32_t ci) {
    conn *c = &conns[ci];
    int err = 0;
    socklen_t el = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
    if (err) {
        error_at(E_CONNECT, ci, "connect: %s", strerror(err));
        kill_conn(ci);
        return;
    }
    if (o_http) { /* no upgrade: the connection is ready for requests */
        c->state = ST_OPEN;
        pending_connects--;
        open_conns++;
        t_connect_progress = now_ns();
        update_events(ci, 0);
        return;
    }
    char req[512];
    int n;
    if (o_sio)
        n = snprintf(req, sizeof req,
                     "GET /socket.io/?EIO=4&transport=websocket&room=%s%u HTTP/1.1\r\n", o_room_name,
                     c->room);
    else if (o_rpc)
        n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nSec-WebSocket-Protocol: roost.v1.cbor\r\n", o_prefix);
    else
        n = snprintf(req, sizeof req, "GET %s%s%u HTTP/1.1\r\n", o_prefix, o_room_name, c->room);
    n += snprintf(req + n, sizeof req - (size_t)n,
                  "Host: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
                  o_host, o_port);
    c->state = ST_HANDSHAKE;
    memcpy(out_reserve(c, (uint32_t)n), req, (size_t)n);
    mark_dirty(ci);
    update_events(ci, 0);
}

/* Fail every connection still handshaking when none has completed for a while. */
static void check_connect_stall(uint64_t now) {
    if (!pending_connects || now < t_connect_progress + CONNECT_STALL_NS) return;
    for (uint32_t ci = 0; ci < next_to_connect; ci++) {
        uint8_t st = conns[ci].state;
        if (st != ST_OPEN && st != ST_DEAD && st != ST_IDLE) {
            error_at(E_HANDSHAKE, ci, "no handshake completed for 10 s");
            kill_conn(ci);
        }
    }
    next_to_connect = connect_target; /* open no more */
}

static void connect_more(void) {
    while (next_to_connect < connect_target && pending_connects < o_concurrency)
        start_connect(next_to_connect++);
}

/* ---- reporting ---- */

static void print_errors(void) {
    printf("\"errors\":%" PRIu64 ",\"error_kinds\":{", errors);
    int first = 1;
    for (int k = 0; k < E_KINDS; k++) {
        if (!err_kind[k]) continue;
        printf("%s\"%s\":%" PRIu64, first ? "" : ",", err_names[k], err_kind[k]);
        first = 0;
    }
    printf("}");
}

static void report_connected(uint64_t now) {
    double secs = (double)(now - t_connect_start) / 1e9;
    printf("{\"event\":\"connected\",\"open\":%u,\"target\":%u,\"seconds\":%.6f,",
           open_conns, connect_target, secs);
    print_errors();
    printf("}\n");
    fflush(stdout);
}

static void report_result(void) {
    double secs = (double)(t_measure_end - t_measure_start) / 1e9;
    uint64_t lost = 0;
    for (uint32_t ri = 0; ri < o_rooms; ri++) {
        room *r = &rooms[ri];
        if (!r->inflight) continue;
        for (uint32_t s = 0; s <= slots_mask; s++) lost += r->remaining[s];
    }
    if (lost && drain_stalled) {
        errors++;
        err_kind[E_LOST] += lost;
        fprintf(stderr, "wsload: %" PRIu64 " deliveries never arrived\n", lost);
    }
    printf("{\"event\":\"result\",\"measure_s\":%.6f,\"deliveries\":%" PRIu64
           ",\"deliveries_total\":%" PRIu64 ",\"sent\":%" PRIu64 ",\"sent_total\":%" PRIu64
           ",\"skipped\":%" PRIu64 ",\"undelivered\":%" PRIu64 ",\"stalled\":%d,\"open\":%u"
           ",\"lat_us\":{\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,\"p999\":%.1f,\"max\":%.1f},",
           secs, deliveries_measure, deliveries_total, sent_measure, sent_total, skipped, lost,
           drain_stalled, open_conns, hpct(50), hpct(90), hpct(99), hpct(99.9), (double)hist_max / 1000.0);
    print_errors();
    printf("}\n");
    fflush(stdout);
}

/* ---- main loop ---- */

static void on_stdin(void) {
    char b[256];
    ssize_t n = read(0, b, sizeof b);
    if (n <= 0) {
        stdin_open = 0;
        epoll_ctl(ep, EPOLL_CTL_DEL, 0, NULL);
        return;
    }
    for (ssize_t i = 0; i < n; i++)
        if (b[i] == '\n') stdin_lines++;
}

static void set_phase(enum phase p, uint64_t now) {
    phase = p;
    t_phase = now;
    printf("{\"event\":\"phase\",\"phase\":\"%s\"}\n",
           (const char *[]){"connect", "warmup", "measure", "drain", "done"}[p]);
    fflush(stdout);
}

static void open_loop_sends(uint64_t now) {
    uint64_t due = (uint64_t)((double)(now - t_rate_start) / 1e9 * rate_msgs);
    while (rate_sent < due) {
        rate_sent++;
        uint32_t ri = rate_room;
        rate_room = (rate_room + 1) % o_rooms;
        if (!send_message(ri, now)) skipped++;
    }
}

static void advance_load(uint64_t now) {
    double el = (double)(now - t_phase) / 1e9;
    switch (phase) {
    case PH_CONNECT:
        check_connect_stall(now);
        if (open_conns + errors >= nconns || (pending_connects == 0 && next_to_connect >= nconns)) {
            report_connected(now);
            if (errors || open_conns < nconns) {
                set_phase(PH_DONE, now);
                return;
            }
            set_phase(PH_WARMUP, now);
            if (o_rate > 0) {
                t_rate_start = now;
            } else {
                for (uint32_t ri = 0; ri < o_rooms; ri++)
                    for (uint32_t w = 0; w < o_window; w++) send_message(ri, now);
            }
        }
        break;
    case PH_WARMUP:
        if (el >= o_warmup) {
            set_phase(PH_MEASURE, now);
            t_measure_start = now;
        }
        break;
    case PH_MEASURE:
        if (el >= o_duration) {
            t_measure_end = now;
            set_phase(PH_DRAIN, now);
            last_progress = now;
        }
        break;
    case PH_DRAIN: {
        uint32_t inflight = 0;
        for (uint32_t ri = 0; ri < o_rooms; ri++) inflight += rooms[ri].inflight;
        /* wait while deliveries still arrive: a slow server is slow, not wrong */
        drain_stalled = inflight && (double)(now - last_progress) / 1e9 > 2.0;
        if (inflight == 0 || drain_stalled || el > o_drain) set_phase(PH_DONE, now);
        break;
    }
    default:
        break;
    }
}

static void advance_http(uint64_t now) {
    double el = (double)(now - t_phase) / 1e9;
    switch (phase) {
    case PH_CONNECT:
        check_connect_stall(now);
        if (open_conns + errors >= nconns || (pending_connects == 0 && next_to_connect >= nconns)) {
            report_connected(now);
            if (errors || open_conns < nconns) {
                set_phase(PH_DONE, now);
                return;
            }
            set_phase(PH_WARMUP, now);
            last_progress = now;
            if (o_count) { /* counted run: no warm-up, measure everything */
                set_phase(PH_MEASURE, now);
                t_measure_start = now;
            }
            if (o_rate > 0) {
                t_rate_start = now;
                for (uint32_t ci = 0; ci < nconns; ci++) free_calls[n_free_calls++] = ci;
            } else {
                for (uint32_t ci = 0; ci < nconns; ci++) call_send(ci, now);
            }
        }
        break;
    case PH_WARMUP:
        if (el >= o_warmup) {
            set_phase(PH_MEASURE, now);
            t_measure_start = now;
        }
        break;
    case PH_MEASURE:
        /* a counted run also ends when no connection is left or nothing arrived for 10 s */
        if (o_count ? http_answered + http_lost >= o_count || !open_conns ||
                          (double)(now - last_progress) / 1e9 > 10.0
                    : el >= o_duration) {
            t_measure_end = now;
            set_phase(PH_DRAIN, now);
            last_progress = now;
        }
        break;
    case PH_DRAIN:
        drain_stalled = http_inflight && (double)(now - last_progress) / 1e9 > 5.0;
        if (!http_inflight || drain_stalled) set_phase(PH_DONE, now);
        break;
    default:
        break;
    }
}

static void report_http(void) {
    double secs = (double)(t_measure_end - t_measure_start) / 1e9;
    uint64_t lost = http_inflight + http_lost + (o_count > http_issued ? o_count - http_issued : 0);
    if (lost) {
        errors++;
        err_kind[E_LOST] += lost;
        fprintf(stderr, "wsload: %" PRIu64 " requests never answered or never sent\n", lost);
    }
    printf("{\"event\":\"result\",\"measure_s\":%.6f,\"responses\":%" PRIu64
           ",\"responses_total\":%" PRIu64 ",\"requests_total\":%" PRIu64 ",\"open\":%u"
           ",\"lat_us\":{\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,\"p999\":%.1f,\"max\":%.1f},",
           secs, deliveries_measure, http_answered, http_issued, open_conns, hpct(50), hpct(90),
           hpct(99), hpct(99.9), (double)hist_max / 1000.0);
    if (o_rate > 0)
        printf("\"offered_per_s\":%.1f,\"backlog_max\":%" PRIu64 ",", o_rate, rate_backlog_max);
    print_errors();
    printf("}\n");
    fflush(stdout);
}

static void advance_idle(uint64_t now) {
    static int reported_step = -1;
    if (phase != PH_CONNECT) return;
    check_connect_stall(now);
    if (reported_step < idle_step && pending_connects == 0 && next_to_connect >= connect_target) {
        report_connected(now);
        reported_step = idle_step;
        if (errors) {
            set_phase(PH_DONE, now);
            return;
        }
    }
    /* the harness reads the server's memory, then writes a line to go on */
    if (reported_step == idle_step && (stdin_lines > idle_step || !stdin_open)) {
        if (idle_step + 1 >= o_idle_nsteps || !stdin_open) {
            set_phase(PH_DONE, now);
            return;
        }
        idle_step++;
        connect_target = o_idle_steps[idle_step];
        t_connect_start = t_connect_progress = now;
    }
}

static void usage(void) {
    fprintf(stderr,
            "usage: wsload --port P [--host H] [--sio] [--prefix /relay/] [--room-name r]\n"
            "  load: [--rooms R] [--members M] [--window W | --rate DELIVERIES_PER_S]\n"
            "        [--warmup S] [--duration S] [--drain S] [--concurrency C]\n"
            "  idle: --idle-steps N1,N2,... [--room-size K]\n"
            "  http: --http CONNECTIONS [--key-space K] [--count N] [--warmup S] [--duration S]\n"
            "        [--transfer --accounts N --alpha A --seed S]  (POST <prefix>, JSON body)\n"
            "  rpc:  --rpc CLIENTS --prefix /ledger/<key> [--accounts N] [--alpha A] [--seed S]\n"
            "        [--count N] [--warmup S] [--duration S]\n"
            "  http, rpc: [--rate CALLS_PER_S]  (open loop; default: one call in flight each)\n");
    exit(2);
}

static void parse_args(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define OPT(name) (strcmp(a, name) == 0 && (v || (usage(), 0)) && ++i)
        if (strcmp(a, "--sio") == 0) o_sio = 1;
        else if (OPT("--host")) o_host = v;
        else if (OPT("--port")) o_port = atoi(v);
        else if (OPT("--prefix")) o_prefix = v;
        else if (OPT("--room-name")) o_room_name = v;
        else if (OPT("--rooms")) o_rooms = (uint32_t)atoi(v);
        else if (OPT("--members")) o_members = (uint32_t)atoi(v);
        else if (OPT("--window")) o_window = (uint32_t)atoi(v);
        else if (OPT("--rate")) o_rate = atof(v);
        else if (OPT("--warmup")) o_warmup = atof(v);
        else if (OPT("--duration")) o_duration = atof(v);
        else if (OPT("--drain")) o_drain = atof(v);
        else if (OPT("--concurrency")) o_concurrency = (uint32_t)atoi(v);
        else if (OPT("--room-size")) o_room_size = (uint32_t)atoi(v);
        else if (OPT("--batch-us")) o_batch_us = atol(v);
        else if (OPT("--http")) o_http = (uint32_t)atoi(v);
        else if (OPT("--key-space")) o_key_space = strtoull(v, NULL, 10);
        else if (OPT("--count")) o_count = strtoull(v, NULL, 10);
        else if (OPT("--rpc")) o_rpc = (uint32_t)atoi(v);
        else if (strcmp(a, "--transfer") == 0) o_transfer = 1;
        else if (OPT("--accounts")) o_accounts = (uint32_t)atoi(v);
        else if (OPT("--alpha")) o_alpha = atof(v);
        else if (OPT("--seed")) o_seed = strtoull(v, NULL, 10);
        else if (OPT("--idle-steps")) {
            char *s = strdup(v), *tok, *save = NULL;
            for (tok = strtok_r(s, ",", &save); tok && o_idle_nsteps < 16;
                 tok = strtok_r(NULL, ",", &save))
                o_idle_steps[o_idle_nsteps++] = (uint32_t)atoi(tok);
        } else usage();
#undef OPT
    }
    if (!o_port || o_members < 1 || o_rooms < 1 || o_room_size < 1 || o_accounts < 2) usage();
    if ((o_rpc && (o_http || o_sio)) || (o_transfer && !o_http)) usage();
    o_calls = o_http || o_rpc;
}

int main(int argc, char **argv) {
    parse_args(argc, argv);
    signal(SIGPIPE, SIG_IGN);
    int idle = o_idle_nsteps > 0;
    if (o_calls) {
        nconns = o_http ? o_http : o_rpc;
        o_rooms = 1;
        zipf_init();
    } else if (idle) {
        nconns = o_idle_steps[o_idle_nsteps - 1];
        o_rooms = (nconns + o_room_size - 1) / o_room_size;
        o_members = o_room_size;
    } else {
        nconns = o_rooms * o_members;
        if (o_members < 2) usage();
    }
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < nconns + 64) {
        rl.rlim_cur = rl.rlim_max < nconns + 64 ? rl.rlim_max : nconns + 64;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    /* in-flight cap per room: the window (closed loop) or ~0.25 s of offered load (open) */
    uint32_t fanout = o_members - 1;
    if (o_calls && o_rate > 0) {
        rate_msgs = o_rate;
        inflight_cap = 1;
    } else if (!idle && !o_calls && o_rate > 0) {
        rate_msgs = o_rate / fanout;
        double per_room = rate_msgs / o_rooms * 0.25;
        inflight_cap = per_room < 16 ? 16 : (uint32_t)per_room;
    } else {
        inflight_cap = o_window ? o_window : 1;
    }
    uint32_t slots = 1;
    while (slots < 4 * inflight_cap) slots <<= 1;
    slots_mask = slots - 1;

    conns = calloc(nconns, sizeof *conns);
    free_calls = calloc(nconns, sizeof *free_calls);
    if (!free_calls) die("malloc");
    rooms = calloc(o_rooms, sizeof *rooms);
    rbuf = malloc(READ_BUF);
    dirty = malloc(sizeof *dirty * nconns);
    if (!conns || !rooms || !rbuf || !dirty) die("malloc");
    for (uint32_t ri = 0; ri < o_rooms; ri++) {
        room *r = &rooms[ri];
        r->first = ri * o_members;
        r->members = o_members;
        if (r->first + r->members > nconns) r->members = nconns - r->first;
        if (!idle && !o_calls) {
            r->slot_id = calloc(slots, sizeof *r->slot_id);
            r->remaining = calloc(slots, sizeof *r->remaining);
            if (!r->slot_id || !r->remaining) die("malloc");
        }
    }
    for (uint32_t ci = 0; ci < nconns; ci++) {
        conn *c = &conns[ci];
        c->fd = -1;
        c->room = ci / o_members;
        c->member = ci % o_members;
        if (!idle && !o_calls) {
            c->last_from = calloc(o_members, sizeof *c->last_from);
            if (!c->last_from) die("malloc");
        }
    }

    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1");
    if (idle) {
        int fl = fcntl(0, F_GETFL);
        fcntl(0, F_SETFL, fl | O_NONBLOCK);
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = STDIN_TAG};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev) < 0) stdin_open = 0;
        connect_target = o_idle_steps[0];
    } else {
        connect_target = nconns;
    }
    uint64_t now = now_ns();
    t_connect_start = t_connect_progress = t_phase = now;
    printf("{\"event\":\"start\",\"pid\":%d,\"connections\":%u}\n", getpid(), nconns);
    fflush(stdout);

    struct epoll_event evs[1024];
    int use_pwait2 = 1;
    while (phase != PH_DONE) {
        connect_more();
        flush_all();
        struct timespec to = {0, 50 * 1000000};
        if (!idle && o_rate > 0 && (phase == PH_WARMUP || phase == PH_MEASURE)) {
            uint64_t next = t_rate_start + (uint64_t)((double)(rate_sent + 1) * 1e9 / rate_msgs);
            uint64_t t = now_ns();
            uint64_t wait = next > t ? next - t : 0;
            if (wait > 50000000) wait = 50000000;
            to.tv_nsec = (long)wait;
        }
        int n;
        if (use_pwait2) {
            n = epoll_pwait2(ep, evs, 1024, &to, NULL);
            if (n < 0 && errno == ENOSYS) {
                use_pwait2 = 0;
                continue;
            }
        } else {
            n = epoll_wait(ep, evs, 1024, (int)(to.tv_nsec / 1000000));
        }
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        now = now_ns();
        for (int i = 0; i < n; i++) {
            uint32_t ci = evs[i].data.u32;
            if (ci == STDIN_TAG) {
                on_stdin();
                continue;
            }
            conn *c = &conns[ci];
            if (c->state == ST_DEAD) continue;
            if (c->state == ST_CONNECTING) {
                on_connected(ci);
                continue;
            }
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_readable(ci, now);
            if (c->state != ST_DEAD && (evs[i].events & EPOLLOUT)) flush_conn(ci);
        }
        if (!idle && o_rate > 0 && (phase == PH_WARMUP || phase == PH_MEASURE)) {
            if (o_calls) open_loop_calls(now);
            else open_loop_sends(now);
        }
        if (idle) advance_idle(now);
        else if (o_calls) advance_http(now);
        else advance_load(now);
        if (o_batch_us && o_rate == 0 && n > 0 && phase != PH_CONNECT) {
            flush_all();
            struct timespec pause = {0, o_batch_us * 1000};
            nanosleep(&pause, NULL);
        }
    }
    flush_all();
    if (idle) {
        printf("{\"event\":\"result\",\"open\":%u,", open_conns);
        print_errors();
        printf("}\n");
    } else if (o_calls) {
        if (!t_measure_end) t_measure_end = t_measure_start = now;
        report_http();
    } else {
        if (!t_measure_end) t_measure_end = t_measure_start = now;
        report_result();
    }
    fflush(stdout);
    return errors ? 1 : 0;
}
