/*
 * Gyre benchmark load client.
 *
 * Two modes, chosen with --mode:
 *
 *   subscribe (default)  Opens N WebSocket connections, connects and subscribes each one,
 *                        then counts publications and records delivery latency from the
 *                        timestamp embedded in each payload ({"t":<CLOCK_MONOTONIC µs>,"s":<seq>}).
 *   publish              Publishes over HTTP/1.1 keep-alive connections (POST /api/publish)
 *                        and records request latency (send -> full response).
 *
 * Protocols (--protocol, subscribe mode):
 *   json      Centrifugo JSON: text frames, newline-separated commands and replies.
 *   protobuf  Centrifugo Protobuf (subprotocol centrifuge-protobuf): binary frames of
 *             varint-length-prefixed Command/Reply messages; publication data is bytes.
 *   socketio  Engine.IO v4 / Socket.IO v5 text packets; the server joins the socket to the
 *             room named by the `channel` query parameter; events "pub" are deliveries.
 *
 * Build: gcc -O2 -pthread -o loadclient loadclient.c
 *
 * Authentication (JSON protocol): --tokens FILE puts line i's JWT in connection i's connect
 * command (and a second JWT on the line in its subscribe command); --cookie adds
 * "Cookie: sid=u<i>" to connection i's upgrade request (for a connect proxy backend);
 * --no-subscribe sends connect alone and counts a connection ready at its connect reply.
 *
 * Several processes (subscribe mode): --index-base B numbers this process's connections
 * B, B+1, ... (the index picks the port, the channel and the cookie; token lines stay
 * local); --source-ip A[,B...] binds the sockets to these local addresses in turn before
 * connecting, each address having its own ephemeral ports towards the server's address and
 * port. Keep each address well under half the port range: past that, connect() searches
 * long for a free port (measured on Linux 6.18 from one address: ~10 µs per connect up to
 * 12,000 connections, 2.5-5 ms past 14,000 of 28,232), and a single-threaded client spending
 * that in connect() answers pings too late.
 *
 * Control protocol (line based, stdin/stdout):
 *   subscribe mode:
 *     stdout "READY {json}"  once every connection is subscribed or failed
 *     stdin  "EXPECT <n>"    print "DONE {json}" once n publications arrived
 *     stdin  "RESET"         zero the delivery counters and histograms, reply "RESET_OK"
 *     stdin  "REPORT"        print "STATS {json}" now
 *     stdin  "HIST"          print "HIST {json}": the delivery latency and connect-time
 *                            histograms (flat [value,count,...] arrays, latency in µs kept to
 *                            3 significant digits, connect time in ms), for merging the
 *                            histograms of several processes
 *   publish mode:
 *     stdout "PUBREADY {json}" once the keep-alive connections are open
 *     stdin  "GO <n> <first_seq>"  send n requests, then print "PUBDONE {json}"
 *   both: "QUIT" or EOF on stdin exits.
 *
 * Each worker thread owns an epoll instance and a slice of the connections. Reads go
 * into one per-thread buffer; an incomplete trailing frame is stashed per connection
 * and prepended to the next read.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LAT_FINE 100000u   /* 1 us buckets: [0, 100 ms) */
#define LAT_COARSE 100000u /* 1 ms buckets: [100 ms, 100.1 s) */
#define CONN_HIST 200000u  /* connect time, 1 ms buckets: [0, 200 s) */
#define RBUF_INIT (256u * 1024u)
#define MAX_EVENTS 512
#define MAX_PORTS 16

enum { ST_CONNECTING = 0, ST_HANDSHAKE, ST_SUBSCRIBING, ST_READY, ST_DEAD };
enum { P_JSON = 0, P_PROTOBUF, P_SOCKETIO };

typedef struct {
  int fd;
  uint8_t state;
  uint8_t frag_op;
  uint32_t gidx; /* global connection index: picks the port and the channel */
  uint32_t stash_len, stash_cap;
  uint8_t *stash;
  uint8_t *msg;
  uint32_t msg_len, msg_cap;
  int64_t last_seq;
  int64_t t_start;
} conn_t;

/* Latency histogram: 1 µs buckets below 100 ms, 1 ms buckets above. */
typedef struct {
  uint32_t *fine;
  uint32_t *coarse;
  uint64_t over, count, sum, max;
} hist_t;

typedef struct {
  int id;
  int epfd;
  conn_t *conns;
  int nconns;
  uint32_t base; /* global index of conns[0] */
  int next_start;
  int pending;
  int setup_complete;
  uint8_t *rbuf;
  size_t rcap;
  uint64_t rng;

  /* counters read by the main thread */
  uint64_t received;
  uint64_t ready, failed;
  uint64_t closed, pings, order_err, write_err, other_msgs;
  uint64_t messages; /* WebSocket data messages (a server may carry several replies in one) */
  int64_t first_us, last_us;
  hist_t lat;
  uint32_t *conn_hist; /* connect+subscribe time, ms */
  int64_t last_ready_us;
  int last_close_code;
  char first_error[160];

  uint64_t reset_seen;
  pthread_t th;
} worker_t;

static struct sockaddr_in g_addrs[MAX_PORTS];
static int g_ports[MAX_PORTS];
static int g_nports = 0;
static const char *g_host = "127.0.0.1";
static const char *g_path = NULL;
static int g_nconns = 1000;
static int g_threads = 1;
static int g_maxpending = 256;
static int g_setup_timeout_s = 120;
static int g_protocol = P_JSON;
static const char *g_channel = "bench";
static int g_nchannels = 1;
static char g_upgrade[MAX_PORTS][768];
static size_t g_upgrade_len[MAX_PORTS];
/* --no-subscribe: connect only, a connection is ready at its connect reply */
static int g_subscribe = 1;
/* --delta: JSON subscribe asks for fossil delta; patched publications are counted, not parsed */
static int g_delta = 0;
/* --tokens FILE: line i = "<connect JWT>[ <subscription JWT>]" for connection i (JSON only) */
static char **g_ctokens = NULL;
static char **g_stokens = NULL;
/* --cookie: the upgrade request of connection i carries "Cookie: sid=u<i>" */
static int g_cookie = 0;
/* --index-base: global index of this process's first connection */
static uint32_t g_index_base = 0;
/* --source-ip: local addresses the connections are bound to in turn (port chosen at connect) */
#define MAX_SOURCES 16
static const char *g_source_ip = NULL;
static struct sockaddr_in g_sources[MAX_SOURCES];
static int g_nsources = 0;

/* publish mode */
static int g_publish = 0;
static const char *g_api_key = "bench";
static int g_payload = 0;
static int g_rate = 0;

static volatile int g_stop = 0;
static uint64_t g_reset_gen = 0;
static worker_t *g_workers;

static inline int64_t mono_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static inline void bump(uint64_t *p) { __atomic_store_n(p, *p + 1, __ATOMIC_RELAXED); }

static inline uint32_t rnd(worker_t *w) {
  uint64_t x = w->rng;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  w->rng = x;
  return (uint32_t)(x >> 16);
}

static int hist_init(hist_t *h) {
  memset(h, 0, sizeof(*h));
  h->fine = calloc(LAT_FINE, sizeof(uint32_t));
  h->coarse = calloc(LAT_COARSE, sizeof(uint32_t));
  return h->fine && h->coarse ? 0 : -1;
}

static void hist_reset(hist_t *h) {
  memset(h->fine, 0, LAT_FINE * sizeof(uint32_t));
  memset(h->coarse, 0, LAT_COARSE * sizeof(uint32_t));
  h->over = h->count = h->sum = h->max = 0;
}

static void hist_add(hist_t *h, int64_t lat) {
  if (lat < 0) lat = 0;
  uint64_t v = (uint64_t)lat;
  if (v < LAT_FINE) {
    h->fine[v]++;
  } else {
    uint64_t b = (v - LAT_FINE) / 1000;
    if (b < LAT_COARSE)
      h->coarse[b]++;
    else
      h->over++;
  }
  h->count++;
  h->sum += v;
  if (v > h->max) h->max = v;
}

/* Percentile over the merged fine/coarse buckets (64-bit sums of several histograms). */
static uint64_t percentile(const uint64_t *fine, const uint64_t *coarse, uint64_t total, double q) {
  if (total == 0) return 0;
  uint64_t rank = (uint64_t)(q * (double)total);
  if (rank == 0) rank = 1;
  uint64_t acc = 0;
  for (uint32_t i = 0; i < LAT_FINE; i++) {
    acc += fine[i];
    if (acc >= rank) return i;
  }
  for (uint32_t i = 0; i < LAT_COARSE; i++) {
    acc += coarse[i];
    if (acc >= rank) return LAT_FINE + (uint64_t)i * 1000 + 500;
  }
  return LAT_FINE + (uint64_t)LAT_COARSE * 1000;
}

static void note_error(worker_t *w, const char *what, const uint8_t *p, size_t n) {
  if (w->first_error[0]) return;
  size_t cap = sizeof(w->first_error) - 1;
  size_t k = (size_t)snprintf(w->first_error, cap, "%s", what);
  for (size_t i = 0; i < n && k < cap; i++) {
    char ch = (char)p[i];
    /* keep it JSON-string safe */
    if (ch == '"' || ch == '\\' || (unsigned char)ch < 0x20 || (unsigned char)ch > 0x7e) ch = '\'';
    w->first_error[k++] = ch;
  }
  w->first_error[k] = 0;
}

static void conn_dead(worker_t *w, conn_t *c) {
  if (c->state == ST_DEAD) return;
  epoll_ctl(w->epfd, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  c->fd = -1;
  if (c->state == ST_READY) {
    bump(&w->closed);
  } else {
    w->pending--;
    bump(&w->failed);
  }
  c->state = ST_DEAD;
  free(c->stash);
  c->stash = NULL;
  c->stash_len = c->stash_cap = 0;
  free(c->msg);
  c->msg = NULL;
  c->msg_len = c->msg_cap = 0;
}

/* Send one masked client frame (payload up to 65535 bytes). */
static void send_frame(worker_t *w, conn_t *c, int op, const uint8_t *payload, size_t len) {
  uint8_t stackbuf[512];
  uint8_t *buf = stackbuf;
  size_t total = len + 8;
  if (len > 65535) return;
  if (total > sizeof(stackbuf)) {
    buf = malloc(total);
    if (!buf) return;
  }
  size_t h = 0;
  buf[h++] = (uint8_t)(0x80 | op);
  if (len < 126) {
    buf[h++] = (uint8_t)(0x80 | len);
  } else {
    buf[h++] = 0x80 | 126;
    buf[h++] = (uint8_t)(len >> 8);
    buf[h++] = (uint8_t)len;
  }
  uint32_t m = rnd(w);
  uint8_t mask[4] = {(uint8_t)m, (uint8_t)(m >> 8), (uint8_t)(m >> 16), (uint8_t)(m >> 24)};
  memcpy(buf + h, mask, 4);
  h += 4;
  for (size_t i = 0; i < len; i++) buf[h + i] = payload[i] ^ mask[i & 3];
  ssize_t n = write(c->fd, buf, h + len);
  if (n != (ssize_t)(h + len)) bump(&w->write_err);
  if (buf != stackbuf) free(buf);
}

/* The channel of a connection: NAME, or NAME-<k> with k = index mod channels. */
static int channel_name(uint32_t gidx, char *out, size_t cap) {
  if (g_nchannels <= 1) return snprintf(out, cap, "%s", g_channel);
  return snprintf(out, cap, "%s-%u", g_channel, gidx % (uint32_t)g_nchannels);
}

static size_t put_varint(uint8_t *p, uint64_t v) {
  size_t n = 0;
  while (v >= 0x80) {
    p[n++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  p[n++] = (uint8_t)v;
  return n;
}

/* Sends connect + subscribe as one frame (JSON text or Protobuf binary); connect alone
 * with --no-subscribe. JSON: --tokens adds the connection's tokens. */
static void send_subscribe(worker_t *w, conn_t *c) {
  char ch[200];
  int chlen = channel_name(c->gidx, ch, sizeof(ch));
  if (g_protocol == P_JSON) {
    char buf[4096];
    const char *ctok = g_ctokens ? g_ctokens[c->gidx - g_index_base] : NULL;
    const char *stok = g_stokens ? g_stokens[c->gidx - g_index_base] : NULL;
    int n;
    if (ctok)
      n = snprintf(buf, sizeof(buf), "{\"connect\":{\"token\":\"%s\"},\"id\":1}", ctok);
    else
      n = snprintf(buf, sizeof(buf), "{\"connect\":{},\"id\":1}");
    if (g_subscribe && n > 0 && (size_t)n < sizeof(buf)) {
      if (stok)
        n += snprintf(buf + n, sizeof(buf) - (size_t)n, "\n{\"subscribe\":{\"channel\":\"%s\",\"token\":\"%s\"},\"id\":2}", ch, stok);
      else
        n += snprintf(buf + n, sizeof(buf) - (size_t)n, "\n{\"subscribe\":{\"channel\":\"%s\"%s},\"id\":2}", ch,
                      g_delta ? ",\"delta\":\"fossil\"" : "");
    }
    if (n < 0 || (size_t)n >= sizeof(buf)) {
      note_error(w, "connect command too long", NULL, 0);
      conn_dead(w, c);
      return;
    }
    send_frame(w, c, 0x1, (const uint8_t *)buf, (size_t)n);
  } else if (g_protocol == P_PROTOBUF) {
    uint8_t buf[400];
    size_t k = 0;
    /* Command{id:1, connect:{}} */
    static const uint8_t connect_cmd[] = {0x04, 0x08, 0x01, 0x22, 0x00};
    memcpy(buf, connect_cmd, sizeof(connect_cmd));
    k = sizeof(connect_cmd);
    /* Command{id:2, subscribe:{channel}} */
    uint8_t sub[256];
    size_t s = 0;
    sub[s++] = 0x0a;
    s += put_varint(sub + s, (uint64_t)chlen);
    memcpy(sub + s, ch, (size_t)chlen);
    s += (size_t)chlen;
    uint8_t cmd[300];
    size_t m = 0;
    cmd[m++] = 0x08;
    cmd[m++] = 0x02;
    cmd[m++] = 0x2a;
    m += put_varint(cmd + m, s);
    memcpy(cmd + m, sub, s);
    m += s;
    k += put_varint(buf + k, m);
    memcpy(buf + k, cmd, m);
    k += m;
    send_frame(w, c, 0x2, buf, k);
  }
  /* socketio: nothing until the Engine.IO open packet arrives */
}

static int parse_int_after(const uint8_t *p, size_t n, const char *key, size_t keylen, int64_t *out) {
  const uint8_t *k = memmem(p, n, key, keylen);
  if (!k) return 0;
  const uint8_t *q = k + keylen;
  const uint8_t *end = p + n;
  while (q < end && (*q == ' ')) q++;
  int neg = 0;
  if (q < end && *q == '-') {
    neg = 1;
    q++;
  }
  if (q >= end || *q < '0' || *q > '9') return 0;
  int64_t v = 0;
  while (q < end && *q >= '0' && *q <= '9') v = v * 10 + (*q++ - '0');
  *out = neg ? -v : v;
  return 1;
}

static void mark_ready(worker_t *w, conn_t *c, int64_t now) {
  c->state = ST_READY;
  w->pending--;
  int64_t ms = (now - c->t_start) / 1000;
  if (ms < 0) ms = 0;
  if ((uint64_t)ms >= CONN_HIST) ms = CONN_HIST - 1;
  w->conn_hist[ms]++;
  w->last_ready_us = now;
  bump(&w->ready);
}

/* A publication arrived; `data` holds its payload (or the whole line for JSON). */
static void delivery(worker_t *w, conn_t *c, const uint8_t *data, size_t n, int64_t now) {
  int64_t t = 0, s = -1;
  /* a delta patch (JSON: "delta":true in the publication) carries no readable t/s */
  if (g_delta && memmem(data, n, "\"delta\":true", 12) != NULL) goto counted;
  if (parse_int_after(data, n, "\"t\":", 4, &t)) hist_add(&w->lat, now - t);
  if (parse_int_after(data, n, "\"s\":", 4, &s)) {
    if (c->last_seq >= 0 && s != c->last_seq + 1) bump(&w->order_err);
    c->last_seq = s;
  }
counted:
  if (w->first_us == 0) w->first_us = now;
  w->last_us = now;
  /* release: histogram updates above are visible to whoever sees this count */
  __atomic_store_n(&w->received, w->received + 1, __ATOMIC_RELEASE);
}

static void handle_json_line(worker_t *w, conn_t *c, const uint8_t *p, size_t n, int64_t now) {
  if (n == 2 && p[0] == '{' && p[1] == '}') {
    send_frame(w, c, 0x1, (const uint8_t *)"{}", 2);
    bump(&w->pings);
    return;
  }
  if (c->state == ST_SUBSCRIBING) {
    if (memmem(p, n, "\"error\"", 7)) {
      note_error(w, "reply: ", p, n);
      conn_dead(w, c);
      return;
    }
    if (g_subscribe ? memmem(p, n, "\"subscribe\"", 11) != NULL : memmem(p, n, "\"connect\"", 9) != NULL) mark_ready(w, c, now);
    return;
  }
  const uint8_t *pub = memmem(p, n, "\"pub\"", 5);
  if (!pub) {
    bump(&w->other_msgs);
    if (memmem(p, n, "\"disconnect\"", 12)) note_error(w, "push: ", p, n);
    return;
  }
  delivery(w, c, pub, n - (size_t)(pub - p), now);
}

/* ---- minimal protobuf reading ---- */

static int get_varint(const uint8_t **pp, const uint8_t *end, uint64_t *out) {
  const uint8_t *p = *pp;
  uint64_t v = 0;
  for (int shift = 0; shift < 64 && p < end; shift += 7) {
    uint8_t b = *p++;
    v |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *pp = p;
      *out = v;
      return 1;
    }
  }
  return 0;
}

/* Finds length-delimited field `field` in a message; returns 1 and its bytes. */
static int pb_field(const uint8_t *p, size_t n, uint32_t field, const uint8_t **fp, size_t *fn) {
  const uint8_t *end = p + n;
  while (p < end) {
    uint64_t key, v;
    if (!get_varint(&p, end, &key)) return 0;
    uint32_t num = (uint32_t)(key >> 3), wt = (uint32_t)(key & 7);
    switch (wt) {
      case 0:
        if (!get_varint(&p, end, &v)) return 0;
        break;
      case 1:
        p += 8;
        break;
      case 5:
        p += 4;
        break;
      case 2:
        if (!get_varint(&p, end, &v) || v > (uint64_t)(end - p)) return 0;
        if (num == field) {
          *fp = p;
          *fn = (size_t)v;
          return 1;
        }
        p += v;
        break;
      default:
        return 0;
    }
  }
  return 0;
}

static void handle_pb_reply(worker_t *w, conn_t *c, const uint8_t *p, size_t n, int64_t now) {
  const uint8_t *f;
  size_t fn;
  if (n == 0) {
    static const uint8_t pong[] = {0x00};
    send_frame(w, c, 0x2, pong, 1);
    bump(&w->pings);
    return;
  }
  if (c->state == ST_SUBSCRIBING) {
    if (pb_field(p, n, 2, &f, &fn)) {
      note_error(w, "protobuf error reply", p, 0);
      conn_dead(w, c);
      return;
    }
    if (pb_field(p, n, 6, &f, &fn)) mark_ready(w, c, now);
    return;
  }
  const uint8_t *push = NULL, *pub, *data;
  size_t pushn = 0, pubn, datan;
  if (pb_field(p, n, 4, &push, &pushn) && pb_field(push, pushn, 4, &pub, &pubn)) {
    if (!pb_field(pub, pubn, 4, &data, &datan)) {
      data = pub;
      datan = 0;
    }
    delivery(w, c, data, datan, now);
    return;
  }
  bump(&w->other_msgs);
  if (push && pb_field(push, pushn, 11, &f, &fn)) note_error(w, "protobuf disconnect push", p, 0);
}

static void handle_pb_message(worker_t *w, conn_t *c, const uint8_t *p, size_t n, int64_t now) {
  const uint8_t *end = p + n;
  while (p < end && c->state != ST_DEAD) {
    uint64_t len;
    if (!get_varint(&p, end, &len) || len > (uint64_t)(end - p)) {
      note_error(w, "bad protobuf frame", NULL, 0);
      conn_dead(w, c);
      return;
    }
    handle_pb_reply(w, c, p, (size_t)len, now);
    p += len;
  }
}

/* Engine.IO packet types: 0 open, 2 ping, 3 pong, 4 message (Socket.IO: 0 connect, 2 event). */
static void handle_sio_message(worker_t *w, conn_t *c, const uint8_t *p, size_t n, int64_t now) {
  if (n == 0) return;
  switch (p[0]) {
    case '0':
      send_frame(w, c, 0x1, (const uint8_t *)"40", 2);
      return;
    case '2':
      send_frame(w, c, 0x1, (const uint8_t *)"3", 1);
      bump(&w->pings);
      return;
    case '4':
      if (n >= 2 && p[1] == '0') {
        if (c->state == ST_SUBSCRIBING) mark_ready(w, c, now);
        return;
      }
      if (n >= 2 && p[1] == '4') {
        note_error(w, "socket.io connect error: ", p, n);
        conn_dead(w, c);
        return;
      }
      if (n >= 8 && p[1] == '2' && memcmp(p + 2, "[\"pub\"", 6) == 0) {
        delivery(w, c, p, n, now);
        return;
      }
      bump(&w->other_msgs);
      return;
    default:
      bump(&w->other_msgs);
  }
}

static void handle_message(worker_t *w, conn_t *c, const uint8_t *p, size_t n, int64_t now) {
  bump(&w->messages);
  if (g_protocol == P_PROTOBUF) {
    handle_pb_message(w, c, p, n, now);
    return;
  }
  if (g_protocol == P_SOCKETIO) {
    handle_sio_message(w, c, p, n, now);
    return;
  }
  const uint8_t *end = p + n;
  while (p < end && c->state != ST_DEAD) {
    const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
    const uint8_t *le = nl ? nl : end;
    if (le > p) handle_json_line(w, c, p, (size_t)(le - p), now);
    p = le + 1;
  }
}

static int msg_append(conn_t *c, const uint8_t *p, size_t n) {
  if (c->msg_len + n > c->msg_cap) {
    size_t cap = c->msg_cap ? c->msg_cap : 4096;
    while (cap < c->msg_len + n) cap *= 2;
    uint8_t *m = realloc(c->msg, cap);
    if (!m) return -1;
    c->msg = m;
    c->msg_cap = (uint32_t)cap;
  }
  memcpy(c->msg + c->msg_len, p, n);
  c->msg_len += (uint32_t)n;
  return 0;
}

static void handle_frame(worker_t *w, conn_t *c, int fin, int op, uint8_t *p, size_t n, int64_t now) {
  switch (op) {
    case 0x8: {
      int code = n >= 2 ? (p[0] << 8 | p[1]) : 1005;
      w->last_close_code = code;
      if (c->state != ST_READY) note_error(w, "close: ", p, n);
      conn_dead(w, c);
      break;
    }
    case 0x9:
      send_frame(w, c, 0xA, p, n);
      break;
    case 0xA:
      break;
    case 0x1:
    case 0x2:
      if (fin) {
        handle_message(w, c, p, n, now);
      } else {
        c->frag_op = (uint8_t)op;
        c->msg_len = 0;
        if (msg_append(c, p, n) < 0) conn_dead(w, c);
      }
      break;
    case 0x0:
      if (msg_append(c, p, n) < 0) {
        conn_dead(w, c);
        break;
      }
      if (fin) {
        handle_message(w, c, c->msg, c->msg_len, now);
        c->msg_len = 0;
      }
      break;
    default:
      note_error(w, "bad opcode", p, 0);
      conn_dead(w, c);
  }
}

/* Parses complete frames from p[0..len); returns bytes consumed. */
static size_t parse_frames(worker_t *w, conn_t *c, uint8_t *p, size_t len, int64_t now) {
  size_t off = 0;
  while (len - off >= 2) {
    uint8_t b0 = p[off], b1 = p[off + 1];
    uint64_t plen = b1 & 0x7f;
    size_t hdr = 2;
    if (plen == 126) {
      if (len - off < 4) break;
      plen = (uint64_t)p[off + 2] << 8 | p[off + 3];
      hdr = 4;
    } else if (plen == 127) {
      if (len - off < 10) break;
      plen = 0;
      for (int i = 0; i < 8; i++) plen = plen << 8 | p[off + 2 + i];
      hdr = 10;
    }
    int masked = (b1 & 0x80) != 0;
    if (masked) hdr += 4;
    if (len - off < hdr || (uint64_t)(len - off - hdr) < plen) break;
    uint8_t *pl = p + off + hdr;
    if (masked) {
      uint8_t *mk = pl - 4;
      for (uint64_t i = 0; i < plen; i++) pl[i] ^= mk[i & 3];
    }
    handle_frame(w, c, (b0 & 0x80) != 0, b0 & 0x0f, pl, (size_t)plen, now);
    off += hdr + (size_t)plen;
    if (c->state == ST_DEAD) return off;
  }
  return off;
}

static int ensure_rbuf(worker_t *w, size_t need) {
  if (w->rcap >= need) return 0;
  size_t cap = w->rcap * 2;
  while (cap < need) cap *= 2;
  uint8_t *b = realloc(w->rbuf, cap);
  if (!b) return -1;
  w->rbuf = b;
  w->rcap = cap;
  return 0;
}

static void on_readable(worker_t *w, conn_t *c) {
  size_t len = 0;
  if (c->stash_len) {
    if (ensure_rbuf(w, (size_t)c->stash_len + 65536) < 0) {
      conn_dead(w, c);
      return;
    }
    memcpy(w->rbuf, c->stash, c->stash_len);
    len = c->stash_len;
  }
  uint8_t *buf = w->rbuf;
  ssize_t n = read(c->fd, buf + len, w->rcap - len);
  if (n == 0) {
    if (c->state != ST_READY)
      note_error(w, c->state == ST_HANDSHAKE ? "server closed during the handshake" : "server closed before the subscribe reply", NULL, 0);
    conn_dead(w, c);
    return;
  }
  if (n < 0) {
    if (errno != EAGAIN && errno != EINTR) {
      if (c->state != ST_READY && !w->first_error[0])
        snprintf(w->first_error, sizeof(w->first_error), "read (state %d): %s", c->state, strerror(errno));
      conn_dead(w, c);
    }
    return;
  }
  len += (size_t)n;
  int64_t now = mono_us();
  size_t off = 0;
  if (c->state == ST_HANDSHAKE) {
    const uint8_t *e = memmem(buf, len, "\r\n\r\n", 4);
    if (!e) {
      if (len > 16384) {
        note_error(w, "handshake too long", buf, 0);
        conn_dead(w, c);
        return;
      }
      off = 0;
      goto stash;
    }
    if (len < 12 || memcmp(buf, "HTTP/1.1 101", 12) != 0) {
      note_error(w, "handshake: ", buf, (size_t)(e - buf) < 80 ? (size_t)(e - buf) : 80);
      conn_dead(w, c);
      return;
    }
    off = (size_t)(e - buf) + 4;
    c->state = ST_SUBSCRIBING;
    send_subscribe(w, c);
  }
  off += parse_frames(w, c, buf + off, len - off, now);
  if (c->state == ST_DEAD) return;
stash:
  if (off < len) {
    size_t left = len - off;
    if (left > c->stash_cap) {
      size_t cap = c->stash_cap ? c->stash_cap : 256;
      while (cap < left) cap *= 2;
      uint8_t *s = realloc(c->stash, cap);
      if (!s) {
        conn_dead(w, c);
        return;
      }
      c->stash = s;
      c->stash_cap = (uint32_t)cap;
    }
    memmove(c->stash, buf + off, left);
    c->stash_len = (uint32_t)left;
  } else {
    c->stash_len = 0;
    if (c->stash_cap > 4096) {
      free(c->stash);
      c->stash = NULL;
      c->stash_cap = 0;
    }
  }
}

static void on_connected(worker_t *w, conn_t *c) {
  int err = 0;
  socklen_t elen = sizeof(err);
  if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0 || err != 0) {
    if (!w->first_error[0]) snprintf(w->first_error, sizeof(w->first_error), "connect: %s", strerror(err ? err : errno));
    conn_dead(w, c);
    return;
  }
  int pi = (int)(c->gidx % (uint32_t)g_nports);
  const char *req = g_upgrade[pi];
  size_t reqlen = g_upgrade_len[pi];
  char withcookie[900];
  if (g_cookie) {
    /* the prepared request minus its final CRLF, then the cookie and the CRLF */
    int k = snprintf(withcookie, sizeof(withcookie), "%.*sCookie: sid=u%u\r\n\r\n", (int)(reqlen - 2), req, c->gidx);
    req = withcookie;
    reqlen = (size_t)k;
  }
  ssize_t n = write(c->fd, req, reqlen);
  if (n != (ssize_t)reqlen) {
    if (!w->first_error[0]) snprintf(w->first_error, sizeof(w->first_error), "upgrade request write: %s", n < 0 ? strerror(errno) : "short write");
    conn_dead(w, c);
    return;
  }
  c->state = ST_HANDSHAKE;
  struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)(c - w->conns)};
  epoll_ctl(w->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static void start_connect(worker_t *w, int idx) {
  conn_t *c = &w->conns[idx];
  memset(c, 0, sizeof(*c));
  c->gidx = w->base + (uint32_t)idx;
  c->last_seq = -1;
  c->state = ST_CONNECTING;
  c->t_start = mono_us();
  w->pending++;
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->fd < 0) {
    if (!w->first_error[0]) snprintf(w->first_error, sizeof(w->first_error), "socket: %s", strerror(errno));
    w->pending--;
    bump(&w->failed);
    c->state = ST_DEAD;
    return;
  }
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (g_source_ip) {
#ifdef IP_BIND_ADDRESS_NO_PORT
    /* the port is picked by connect() for the full 4-tuple, not reserved by bind() */
    setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
#endif
    const struct sockaddr_in *src = &g_sources[(c->gidx - g_index_base) % (uint32_t)g_nsources];
    if (bind(c->fd, (const struct sockaddr *)src, sizeof(*src)) < 0) {
      if (!w->first_error[0]) snprintf(w->first_error, sizeof(w->first_error), "bind %s: %s", inet_ntoa(src->sin_addr), strerror(errno));
      close(c->fd);
      w->pending--;
      bump(&w->failed);
      c->state = ST_DEAD;
      return;
    }
  }
  const struct sockaddr_in *addr = &g_addrs[c->gidx % (uint32_t)g_nports];
  if (connect(c->fd, (const struct sockaddr *)addr, sizeof(*addr)) < 0 && errno != EINPROGRESS) {
    if (!w->first_error[0]) snprintf(w->first_error, sizeof(w->first_error), "connect: %s", strerror(errno));
    close(c->fd);
    w->pending--;
    bump(&w->failed);
    c->state = ST_DEAD;
    return;
  }
  struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = (uint32_t)idx};
  epoll_ctl(w->epfd, EPOLL_CTL_ADD, c->fd, &ev);
}

static void worker_reset(worker_t *w) {
  __atomic_store_n(&w->received, 0, __ATOMIC_RELAXED);
  w->closed = w->pings = w->order_err = w->write_err = w->other_msgs = w->messages = 0;
  w->first_us = w->last_us = 0;
  hist_reset(&w->lat);
  w->last_close_code = 0;
}

static void *worker_main(void *arg) {
  worker_t *w = arg;
  struct epoll_event evs[MAX_EVENTS];
  int64_t deadline = mono_us() + (int64_t)g_setup_timeout_s * 1000000;
  while (!g_stop) {
    uint64_t gen = __atomic_load_n(&g_reset_gen, __ATOMIC_ACQUIRE);
    if (gen != w->reset_seen) {
      worker_reset(w);
      __atomic_store_n(&w->reset_seen, gen, __ATOMIC_RELEASE);
    }
    if (!w->setup_complete) {
      while (w->next_start < w->nconns && w->pending < g_maxpending) start_connect(w, w->next_start++);
      if (mono_us() > deadline) {
        for (int i = 0; i < w->next_start; i++) {
          conn_t *c = &w->conns[i];
          if (c->state != ST_READY && c->state != ST_DEAD) {
            note_error(w, "setup timeout", NULL, 0);
            conn_dead(w, c);
          }
        }
        while (w->next_start < w->nconns) {
          w->conns[w->next_start++].state = ST_DEAD;
          bump(&w->failed);
        }
      }
      if (w->next_start >= w->nconns && w->pending == 0) w->setup_complete = 1;
    }
    int n = epoll_wait(w->epfd, evs, MAX_EVENTS, 20);
    for (int i = 0; i < n; i++) {
      conn_t *c = &w->conns[evs[i].data.u32];
      if (c->state == ST_DEAD) continue;
      if (c->state == ST_CONNECTING)
        on_connected(w, c);
      else
        on_readable(w, c);
    }
  }
  return NULL;
}

static uint64_t sum_field(size_t offset) {
  uint64_t s = 0;
  for (int i = 0; i < g_threads; i++)
    s += __atomic_load_n((uint64_t *)((char *)&g_workers[i] + offset), __ATOMIC_ACQUIRE);
  return s;
}
#define SUM(field) sum_field(offsetof(worker_t, field))

static int64_t g_setup_start_us, g_setup_end_us;

static void print_stats(const char *tag) {
  static uint64_t fine[LAT_FINE];
  static uint64_t coarse[LAT_COARSE];
  static uint64_t conn[CONN_HIST];
  memset(fine, 0, sizeof(fine));
  memset(coarse, 0, sizeof(coarse));
  memset(conn, 0, sizeof(conn));
  uint64_t total = 0, lat_sum = 0, lat_max = 0, conn_total = 0;
  int64_t first = 0, last = 0;
  int close_code = 0;
  const char *err = "";
  uint64_t received = SUM(received); /* acquire before reading histograms */
  for (int t = 0; t < g_threads; t++) {
    worker_t *w = &g_workers[t];
    for (uint32_t i = 0; i < LAT_FINE; i++) fine[i] += w->lat.fine[i];
    for (uint32_t i = 0; i < LAT_COARSE; i++) coarse[i] += w->lat.coarse[i];
    for (uint32_t i = 0; i < CONN_HIST; i++) {
      conn[i] += w->conn_hist[i];
      conn_total += w->conn_hist[i];
    }
    total += w->lat.count;
    lat_sum += w->lat.sum;
    if (w->lat.max > lat_max) lat_max = w->lat.max;
    if (w->first_us && (first == 0 || w->first_us < first)) first = w->first_us;
    if (w->last_us > last) last = w->last_us;
    if (w->last_close_code) close_code = w->last_close_code;
    if (!err[0] && w->first_error[0]) err = w->first_error;
  }
  uint64_t conn_p50 = 0, conn_p99 = 0, conn_max = 0, acc = 0;
  for (uint32_t i = 0; i < CONN_HIST; i++) {
    if (!conn[i]) continue;
    acc += conn[i];
    if (!conn_p50 && acc * 2 >= conn_total) conn_p50 = i + 1;
    if (!conn_p99 && acc * 100 >= conn_total * 99) conn_p99 = i + 1;
    conn_max = i + 1;
  }
  printf("%s {\"received\":%llu,\"samples\":%llu,\"first_us\":%lld,\"last_us\":%lld,"
         "\"p50_us\":%llu,\"p90_us\":%llu,\"p99_us\":%llu,\"p999_us\":%llu,\"max_us\":%llu,\"mean_us\":%.1f,"
         "\"ready\":%llu,\"failed\":%llu,\"closed\":%llu,\"pings\":%llu,\"order_errors\":%llu,"
         "\"write_errors\":%llu,\"other_msgs\":%llu,\"messages\":%llu,\"close_code\":%d,\"setup_us\":%lld,"
         "\"conn_p50_ms\":%llu,\"conn_p99_ms\":%llu,\"conn_max_ms\":%llu,\"error\":\"%s\"}\n",
         tag, (unsigned long long)received, (unsigned long long)total, (long long)first, (long long)last,
         (unsigned long long)percentile(fine, coarse, total, 0.50),
         (unsigned long long)percentile(fine, coarse, total, 0.90),
         (unsigned long long)percentile(fine, coarse, total, 0.99),
         (unsigned long long)percentile(fine, coarse, total, 0.999), (unsigned long long)lat_max,
         total ? (double)lat_sum / (double)total : 0.0, (unsigned long long)SUM(ready),
         (unsigned long long)SUM(failed), (unsigned long long)SUM(closed), (unsigned long long)SUM(pings),
         (unsigned long long)SUM(order_err), (unsigned long long)SUM(write_err),
         (unsigned long long)SUM(other_msgs), (unsigned long long)SUM(messages), close_code,
         (long long)(g_setup_end_us - g_setup_start_us),
         (unsigned long long)conn_p50, (unsigned long long)conn_p99, (unsigned long long)conn_max, err);
  fflush(stdout);
}

/* Rounds a latency (µs) down to 3 significant digits: exact below 1 ms. */
static uint64_t sig3(uint64_t v) {
  uint64_t p = 1;
  while (v / p >= 1000) p *= 10;
  return v / p * p;
}

/* Appends "value,count" pairs of a run-length merged histogram; returns the new length. */
static size_t hist_pair(char *out, size_t len, size_t cap, int *first, uint64_t v, uint64_t n) {
  if (!n || len >= cap) return len;
  int k = snprintf(out + len, cap - len, "%s%llu,%llu", *first ? "" : ",", (unsigned long long)v, (unsigned long long)n);
  *first = 0;
  return k > 0 ? len + (size_t)k : len;
}

static void print_hist(void) {
  /* at most ~2,800 latency keys (3 significant digits over 0..100 s) and CONN_HIST ms buckets */
  size_t cap = 64 * 1024 + (size_t)CONN_HIST * 24;
  char *out = malloc(cap);
  if (!out) return;
  uint64_t received = SUM(received); /* acquire before reading histograms */
  (void)received;
  uint64_t over = 0, count = 0, sum = 0, max = 0;
  size_t len = (size_t)snprintf(out, cap, "HIST {\"lat\":[");
  int first = 1;
  uint64_t key = UINT64_MAX, acc = 0;
  for (uint32_t i = 0; i < LAT_FINE + LAT_COARSE; i++) {
    uint64_t n = 0;
    for (int t = 0; t < g_threads; t++) n += i < LAT_FINE ? g_workers[t].lat.fine[i] : g_workers[t].lat.coarse[i - LAT_FINE];
    if (!n) continue;
    uint64_t v = sig3(i < LAT_FINE ? i : LAT_FINE + (uint64_t)(i - LAT_FINE) * 1000 + 500);
    if (v != key) {
      len = hist_pair(out, len, cap, &first, key, acc);
      key = v;
      acc = 0;
    }
    acc += n;
  }
  len = hist_pair(out, len, cap, &first, key, acc);
  for (int t = 0; t < g_threads; t++) {
    over += g_workers[t].lat.over;
    count += g_workers[t].lat.count;
    sum += g_workers[t].lat.sum;
    if (g_workers[t].lat.max > max) max = g_workers[t].lat.max;
  }
  /* beyond the last bucket: counted at the maximum */
  len = hist_pair(out, len, cap, &first, max, over);
  len += (size_t)snprintf(out + len, cap - len, "],\"conn\":[");
  first = 1;
  for (uint32_t i = 0; i < CONN_HIST; i++) {
    uint64_t n = 0;
    for (int t = 0; t < g_threads; t++) n += g_workers[t].conn_hist[i];
    len = hist_pair(out, len, cap, &first, i + 1, n);
  }
  if (len < cap)
    snprintf(out + len, cap - len, "],\"count\":%llu,\"sum\":%llu,\"max\":%llu}", (unsigned long long)count,
             (unsigned long long)sum, (unsigned long long)max);
  puts(out);
  fflush(stdout);
  free(out);
}

/* ------------------------------------------------------------------------- */
/* publish mode: HTTP/1.1 keep-alive POSTs, one request in flight per connection */

typedef struct {
  int fd;
  int busy;
  int64_t sent_us;
  int64_t last_us; /* connected, or last response completed */
  size_t rlen;
  uint8_t rbuf[8192];
} pconn_t;

typedef struct {
  pconn_t *conns;
  int n;
  int epfd;
  hist_t lat;
  uint64_t done, errors, sent;
  char first_error[200];
} publisher_t;

static int pub_connect(pconn_t *pc) {
  pc->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (pc->fd < 0) return -1;
  int one = 1;
  setsockopt(pc->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (connect(pc->fd, (const struct sockaddr *)&g_addrs[0], sizeof(g_addrs[0])) < 0) return -1;
  fcntl(pc->fd, F_SETFL, fcntl(pc->fd, F_GETFL) | O_NONBLOCK);
  pc->busy = 0;
  pc->rlen = 0;
  pc->last_us = mono_us();
  return 0;
}

/* A server closes keep-alive connections idle for its keep-alive time (Gyre: 5 s); like an
 * HTTP client, open a fresh one instead of reusing a connection idle for longer than this. */
#define PUB_REUSE_IDLE_US 3000000

/* Closes connection i (if open) and opens it again; -1 if the connect fails. */
static int pub_reopen(publisher_t *P, int i) {
  pconn_t *pc = &P->conns[i];
  if (pc->fd >= 0) {
    epoll_ctl(P->epfd, EPOLL_CTL_DEL, pc->fd, NULL);
    close(pc->fd);
    pc->fd = -1;
  }
  if (pub_connect(pc) < 0) {
    if (pc->fd >= 0) close(pc->fd);
    pc->fd = -1;
    return -1;
  }
  struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
  epoll_ctl(P->epfd, EPOLL_CTL_ADD, pc->fd, &ev);
  return 0;
}

static int pub_send(publisher_t *P, pconn_t *pc, int64_t seq) {
  static char pad[70000];
  static int pad_ready = 0;
  if (!pad_ready) {
    memset(pad, 'x', sizeof(pad) - 1);
    pad_ready = 1;
  }
  char ch[200];
  channel_name((uint32_t)seq, ch, sizeof(ch));
  char body[70400];
  int64_t now = mono_us();
  int padlen = g_payload > 38 ? g_payload - 38 : 0;
  if (padlen > 65536) padlen = 65536;
  int bl;
  if (padlen > 0)
    bl = snprintf(body, sizeof(body), "{\"channel\":\"%s\",\"data\":{\"t\":%lld,\"s\":%lld,\"p\":\"%.*s\"}}", ch,
                  (long long)now, (long long)seq, padlen, pad);
  else
    bl = snprintf(body, sizeof(body), "{\"channel\":\"%s\",\"data\":{\"t\":%lld,\"s\":%lld}}", ch, (long long)now,
                  (long long)seq);
  char req[71000];
  int rl = snprintf(req, sizeof(req),
                    "POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\nX-API-Key: %s\r\n"
                    "Content-Length: %d\r\n\r\n%s",
                    g_path, g_host, g_ports[0], g_api_key, bl, body);
  ssize_t off = 0;
  while (off < rl) {
    ssize_t k = write(pc->fd, req + off, (size_t)(rl - off));
    if (k < 0) {
      if (errno == EAGAIN || errno == EINTR) {
        struct pollfd pf = {.fd = pc->fd, .events = POLLOUT};
        poll(&pf, 1, 1000);
        continue;
      }
      return -1;
    }
    off += k;
  }
  pc->busy = 1;
  pc->sent_us = now;
  P->sent++;
  return 0;
}

static void pub_error(publisher_t *P, const char *what, const uint8_t *p, size_t n) {
  P->errors++;
  if (P->first_error[0]) return;
  size_t cap = sizeof(P->first_error) - 1;
  size_t k = (size_t)snprintf(P->first_error, cap, "%s", what);
  for (size_t i = 0; i < n && k < cap; i++) {
    char ch = (char)p[i];
    if (ch == '"' || ch == '\\' || (unsigned char)ch < 0x20 || (unsigned char)ch > 0x7e) ch = '\'';
    P->first_error[k++] = ch;
  }
  P->first_error[k] = 0;
}

/* Consumes complete responses from the connection buffer; returns responses completed or -1. */
static int pub_parse(publisher_t *P, pconn_t *pc, int64_t now) {
  int completed = 0;
  for (;;) {
    uint8_t *e = memmem(pc->rbuf, pc->rlen, "\r\n\r\n", 4);
    if (!e) return completed;
    size_t hl = (size_t)(e - pc->rbuf) + 4;
    long clen = -1;
    for (uint8_t *q = pc->rbuf; q < e; q++) {
      if ((q == pc->rbuf || q[-1] == '\n') && strncasecmp((char *)q, "content-length:", 15) == 0) {
        clen = strtol((char *)q + 15, NULL, 10);
        break;
      }
    }
    if (clen < 0) {
      pub_error(P, "response without content-length: ", pc->rbuf, hl < 100 ? hl : 100);
      return -1;
    }
    if (pc->rlen < hl + (size_t)clen) return completed;
    int ok = pc->rlen >= 12 && memcmp(pc->rbuf + 9, "200", 3) == 0 &&
             !memmem(pc->rbuf + hl, (size_t)clen, "\"error\"", 7);
    if (!ok) pub_error(P, "response: ", pc->rbuf, pc->rlen < 160 ? pc->rlen : 160);
    hist_add(&P->lat, now - pc->sent_us);
    P->done++;
    pc->busy = 0;
    pc->last_us = now;
    completed++;
    size_t used = hl + (size_t)clen;
    memmove(pc->rbuf, pc->rbuf + used, pc->rlen - used);
    pc->rlen -= used;
  }
}

/* Sends `count` requests (closed loop, or paced at g_rate per second); prints PUBDONE. */
static void pub_run(publisher_t *P, int64_t count, int64_t first_seq) {
  hist_reset(&P->lat);
  P->done = P->errors = P->sent = 0;
  P->first_error[0] = 0;
  int64_t next = 0;
  for (int i = 0; i < P->n; i++) {
    if (P->conns[i].fd < 0 || mono_us() - P->conns[i].last_us >= PUB_REUSE_IDLE_US) {
      if (pub_reopen(P, i) < 0) pub_error(P, "reconnect failed", NULL, 0);
    }
  }
  int64_t t0 = mono_us();
  struct epoll_event evs[64];
  while (P->done < (uint64_t)count) {
    int64_t now = mono_us();
    for (int i = 0; i < P->n && next < count; i++) {
      pconn_t *pc = &P->conns[i];
      if (pc->busy || pc->fd < 0) continue;
      if (g_rate > 0 && t0 + next * 1000000 / g_rate > now) break;
      if (pub_send(P, pc, first_seq + next) < 0) {
        pub_error(P, "send failed", NULL, 0);
        close(pc->fd);
        pc->fd = -1;
        P->done++; /* count it as finished (failed) */
      }
      next++;
    }
    int timeout = 50;
    if (g_rate > 0 && next < count) {
      int64_t due = t0 + next * 1000000 / g_rate - mono_us();
      timeout = due <= 0 ? 0 : (int)((due + 999) / 1000);
      if (timeout > 50) timeout = 50;
    }
    int n = epoll_wait(P->epfd, evs, 64, timeout);
    now = mono_us();
    for (int k = 0; k < n; k++) {
      pconn_t *pc = &P->conns[evs[k].data.u32];
      if (pc->fd < 0) continue;
      for (;;) {
        if (pc->rlen >= sizeof(pc->rbuf)) {
          pub_error(P, "response too large", NULL, 0);
          pc->rlen = 0;
        }
        ssize_t r = read(pc->fd, pc->rbuf + pc->rlen, sizeof(pc->rbuf) - pc->rlen);
        if (r > 0) {
          pc->rlen += (size_t)r;
          continue;
        }
        if ((r == 0 || (errno != EAGAIN && errno != EINTR)) && !pc->busy && pc->rlen == 0) {
          /* an idle keep-alive connection closed by the server: not an error, reopen it */
          if (pub_reopen(P, evs[k].data.u32) < 0) pub_error(P, "reconnect failed", NULL, 0);
          break;
        }
        if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
          pub_error(P, "connection closed by server", NULL, 0);
          epoll_ctl(P->epfd, EPOLL_CTL_DEL, pc->fd, NULL);
          close(pc->fd);
          if (pc->busy) P->done++;
          pc->fd = -1;
        }
        break;
      }
      if (pc->fd >= 0 && pub_parse(P, pc, now) < 0) {
        epoll_ctl(P->epfd, EPOLL_CTL_DEL, pc->fd, NULL);
        close(pc->fd);
        if (pc->busy) P->done++;
        pc->fd = -1;
      }
    }
    int alive = 0;
    for (int i = 0; i < P->n; i++) alive += P->conns[i].fd >= 0;
    if (!alive) break;
  }
  int64_t elapsed = mono_us() - t0;
  static uint64_t fine[LAT_FINE], coarse[LAT_COARSE];
  for (uint32_t i = 0; i < LAT_FINE; i++) fine[i] = P->lat.fine[i];
  for (uint32_t i = 0; i < LAT_COARSE; i++) coarse[i] = P->lat.coarse[i];
  printf("PUBDONE {\"requests\":%llu,\"errors\":%llu,\"elapsed_us\":%lld,\"p50_us\":%llu,\"p90_us\":%llu,"
         "\"p99_us\":%llu,\"p999_us\":%llu,\"max_us\":%llu,\"mean_us\":%.1f,\"error\":\"%s\"}\n",
         (unsigned long long)P->done, (unsigned long long)P->errors, (long long)elapsed,
         (unsigned long long)percentile(fine, coarse, P->lat.count, 0.50),
         (unsigned long long)percentile(fine, coarse, P->lat.count, 0.90),
         (unsigned long long)percentile(fine, coarse, P->lat.count, 0.99),
         (unsigned long long)percentile(fine, coarse, P->lat.count, 0.999), (unsigned long long)P->lat.max,
         P->lat.count ? (double)P->lat.sum / (double)P->lat.count : 0.0, P->first_error);
  fflush(stdout);
}

static int publish_main(void) {
  publisher_t P;
  memset(&P, 0, sizeof(P));
  P.n = g_nconns;
  P.conns = calloc((size_t)P.n, sizeof(pconn_t));
  P.epfd = epoll_create1(EPOLL_CLOEXEC);
  if (!P.conns || P.epfd < 0 || hist_init(&P.lat) < 0) {
    fprintf(stderr, "out of memory\n");
    return 1;
  }
  int opened = 0;
  for (int i = 0; i < P.n; i++) {
    if (pub_connect(&P.conns[i]) < 0) {
      if (!P.first_error[0]) snprintf(P.first_error, sizeof(P.first_error), "connect: %s", strerror(errno));
      P.conns[i].fd = -1;
      continue;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
    epoll_ctl(P.epfd, EPOLL_CTL_ADD, P.conns[i].fd, &ev);
    opened++;
  }
  printf("PUBREADY {\"connections\":%d,\"error\":\"%s\"}\n", opened, P.first_error);
  fflush(stdout);
  char line[256];
  size_t llen = 0;
  for (;;) {
    ssize_t n = read(0, line + llen, sizeof(line) - 1 - llen);
    if (n <= 0) break;
    llen += (size_t)n;
    line[llen] = 0;
    char *nl;
    while ((nl = memchr(line, '\n', llen)) != NULL) {
      *nl = 0;
      if (!strncmp(line, "GO ", 3)) {
        long long cnt = 0, first = 0;
        sscanf(line + 3, "%lld %lld", &cnt, &first);
        pub_run(&P, cnt, first);
      } else if (!strcmp(line, "QUIT")) {
        return 0;
      }
      size_t used = (size_t)(nl - line) + 1;
      memmove(line, nl + 1, llen - used);
      llen -= used;
      line[llen] = 0;
    }
    if (llen >= sizeof(line) - 1) llen = 0;
  }
  return 0;
}

/* ------------------------------------------------------------------------- */

static void usage(void) {
  fprintf(stderr,
          "usage: loadclient --port N[,N...] [--host 127.0.0.1] [--path P] [--mode subscribe|publish]\n"
          "                  [--protocol json|protobuf|socketio] [--channel NAME] [--channels K]\n"
          "                  [--conns N] [--threads T] [--maxpending P] [--setup-timeout S]\n"
          "                  [--no-subscribe] [--cookie] [--delta] [--tokens FILE]\n"
          "                  [--index-base B] [--source-ip A[,A...]]\n"
          "                  publish mode: [--api-key K] [--payload BYTES] [--rate R]\n");
  exit(2);
}

/* Reads --tokens: one line per connection, "<connect token>[ <subscription token>]". */
static int load_tokens(const char *file) {
  FILE *f = fopen(file, "r");
  if (!f) {
    fprintf(stderr, "cannot open %s\n", file);
    return -1;
  }
  g_ctokens = calloc((size_t)g_nconns, sizeof(char *));
  g_stokens = calloc((size_t)g_nconns, sizeof(char *));
  if (!g_ctokens || !g_stokens) return -1;
  char *line = NULL;
  size_t cap = 0;
  int i = 0;
  ssize_t len;
  while (i < g_nconns && (len = getline(&line, &cap, f)) > 0) {
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
    char *sp = strchr(line, ' ');
    if (sp) {
      *sp = 0;
      g_stokens[i] = strdup(sp + 1);
    }
    g_ctokens[i] = strdup(line);
    i++;
  }
  free(line);
  fclose(f);
  if (i < g_nconns) {
    fprintf(stderr, "%s has %d tokens for %d connections\n", file, i, g_nconns);
    return -1;
  }
  return 0;
}

int main(int argc, char **argv) {
  const char *ports = "8000";
  const char *tokens_file = NULL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--no-subscribe")) { g_subscribe = 0; continue; }
    if (!strcmp(a, "--delta")) { g_delta = 1; continue; }
    if (!strcmp(a, "--cookie")) { g_cookie = 1; continue; }
    if (!v) usage();
    if (!strcmp(a, "--host")) g_host = v;
    else if (!strcmp(a, "--port")) ports = v;
    else if (!strcmp(a, "--path")) g_path = v;
    else if (!strcmp(a, "--conns")) g_nconns = atoi(v);
    else if (!strcmp(a, "--threads")) g_threads = atoi(v);
    else if (!strcmp(a, "--maxpending")) g_maxpending = atoi(v);
    else if (!strcmp(a, "--setup-timeout")) g_setup_timeout_s = atoi(v);
    else if (!strcmp(a, "--channel")) g_channel = v;
    else if (!strcmp(a, "--channels")) g_nchannels = atoi(v);
    else if (!strcmp(a, "--api-key")) g_api_key = v;
    else if (!strcmp(a, "--payload")) g_payload = atoi(v);
    else if (!strcmp(a, "--rate")) g_rate = atoi(v);
    else if (!strcmp(a, "--tokens")) tokens_file = v;
    else if (!strcmp(a, "--index-base")) g_index_base = (uint32_t)strtoul(v, NULL, 10);
    else if (!strcmp(a, "--source-ip")) g_source_ip = v;
    else if (!strcmp(a, "--mode")) {
      if (!strcmp(v, "publish")) g_publish = 1;
      else if (strcmp(v, "subscribe")) usage();
    } else if (!strcmp(a, "--protocol")) {
      if (!strcmp(v, "json")) g_protocol = P_JSON;
      else if (!strcmp(v, "protobuf")) g_protocol = P_PROTOBUF;
      else if (!strcmp(v, "socketio")) g_protocol = P_SOCKETIO;
      else usage();
    } else usage();
    i++;
  }
  if (g_threads < 1) g_threads = 1;
  if (g_threads > g_nconns && g_nconns > 0) g_threads = g_nconns;
  if (g_maxpending < 1) g_maxpending = 1;
  if (g_nchannels < 1) g_nchannels = 1;
  if (tokens_file && load_tokens(tokens_file) < 0) return 2;

  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }

  /* --port 8000 or --port 8000,8001: connection i goes to port i mod count */
  for (const char *p = ports; *p && g_nports < MAX_PORTS;) {
    g_ports[g_nports++] = atoi(p);
    const char *comma = strchr(p, ',');
    if (!comma) break;
    p = comma + 1;
  }
  if (g_nports == 0) usage();
  if (!g_path) {
    if (g_publish) g_path = "/api/publish";
    else if (g_protocol == P_SOCKETIO) g_path = "/socket.io/?EIO=4&transport=websocket";
    else g_path = "/connection/websocket";
  }
  for (int i = 0; i < g_nports; i++) {
    memset(&g_addrs[i], 0, sizeof(g_addrs[i]));
    g_addrs[i].sin_family = AF_INET;
    g_addrs[i].sin_port = htons((uint16_t)g_ports[i]);
    if (inet_pton(AF_INET, g_host, &g_addrs[i].sin_addr) != 1) {
      fprintf(stderr, "bad host %s\n", g_host);
      return 2;
    }
    char path[512];
    if (g_protocol == P_SOCKETIO)
      snprintf(path, sizeof(path), "%s%schannel=%s", g_path, strchr(g_path, '?') ? "&" : "?", g_channel);
    else
      snprintf(path, sizeof(path), "%s", g_path);
    g_upgrade_len[i] = (size_t)snprintf(
        g_upgrade[i], sizeof(g_upgrade[i]),
        "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n%s\r\n",
        path, g_host, g_ports[i], g_protocol == P_PROTOBUF ? "Sec-WebSocket-Protocol: centrifuge-protobuf\r\n" : "");
  }

  for (const char *p = g_source_ip; p && *p && g_nsources < MAX_SOURCES;) {
    const char *comma = strchr(p, ',');
    size_t len = comma ? (size_t)(comma - p) : strlen(p);
    char ip[64];
    snprintf(ip, sizeof(ip), "%.*s", (int)len, p);
    struct sockaddr_in *sa = &g_sources[g_nsources++];
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    if (inet_pton(AF_INET, ip, &sa->sin_addr) != 1) {
      fprintf(stderr, "bad source address %s\n", ip);
      return 2;
    }
    p = comma ? comma + 1 : NULL;
  }

  if (g_publish) return publish_main();

  g_workers = calloc((size_t)g_threads, sizeof(worker_t));
  int per = g_nconns / g_threads, extra = g_nconns % g_threads;
  uint32_t base = g_index_base;
  for (int t = 0; t < g_threads; t++) {
    worker_t *w = &g_workers[t];
    w->id = t;
    w->nconns = per + (t < extra ? 1 : 0);
    w->base = base;
    base += (uint32_t)w->nconns;
    w->conns = calloc((size_t)(w->nconns ? w->nconns : 1), sizeof(conn_t));
    w->epfd = epoll_create1(EPOLL_CLOEXEC);
    w->rcap = RBUF_INIT;
    w->rbuf = malloc(w->rcap);
    w->conn_hist = calloc(CONN_HIST, sizeof(uint32_t));
    w->rng = 0x9E3779B97F4A7C15ull ^ ((uint64_t)(t + 1) * 0xBF58476D1CE4E5B9ull) ^ (uint64_t)mono_us();
    if (!w->conns || w->epfd < 0 || !w->rbuf || !w->conn_hist || hist_init(&w->lat) < 0) {
      fprintf(stderr, "out of memory\n");
      return 1;
    }
  }
  /* spread the per-thread pending budget */
  g_maxpending = g_maxpending / g_threads > 0 ? g_maxpending / g_threads : 1;
  g_setup_start_us = mono_us();
  for (int t = 0; t < g_threads; t++) pthread_create(&g_workers[t].th, NULL, worker_main, &g_workers[t]);

  /* setup phase */
  for (;;) {
    uint64_t done = SUM(ready) + SUM(failed);
    if (done >= (uint64_t)g_nconns) break;
    usleep(2000);
  }
  g_setup_end_us = 0;
  for (int t = 0; t < g_threads; t++)
    if (g_workers[t].last_ready_us > g_setup_end_us) g_setup_end_us = g_workers[t].last_ready_us;
  if (g_setup_end_us == 0) g_setup_end_us = mono_us();
  print_stats("READY");

  /* command phase */
  uint64_t target = 0;
  char line[256];
  size_t llen = 0;
  for (;;) {
    struct pollfd pfd = {.fd = 0, .events = POLLIN};
    int pr = poll(&pfd, 1, target ? 2 : 50);
    if (pr > 0) {
      ssize_t n = read(0, line + llen, sizeof(line) - 1 - llen);
      if (n <= 0) break; /* parent gone */
      llen += (size_t)n;
      line[llen] = 0;
      char *nl;
      while ((nl = memchr(line, '\n', llen)) != NULL) {
        *nl = 0;
        if (!strncmp(line, "EXPECT ", 7)) {
          target = strtoull(line + 7, NULL, 10);
        } else if (!strcmp(line, "RESET")) {
          uint64_t gen = __atomic_add_fetch(&g_reset_gen, 1, __ATOMIC_ACQ_REL);
          for (int t = 0; t < g_threads; t++)
            while (__atomic_load_n(&g_workers[t].reset_seen, __ATOMIC_ACQUIRE) != gen) usleep(1000);
          printf("RESET_OK\n");
          fflush(stdout);
        } else if (!strcmp(line, "REPORT")) {
          print_stats("STATS");
        } else if (!strcmp(line, "HIST")) {
          print_hist();
        } else if (!strcmp(line, "QUIT")) {
          goto out;
        }
        size_t used = (size_t)(nl - line) + 1;
        memmove(line, nl + 1, llen - used);
        llen -= used;
        line[llen] = 0;
      }
      if (llen >= sizeof(line) - 1) llen = 0;
    }
    if (target && SUM(received) >= target) {
      target = 0;
      print_stats("DONE");
    }
  }
out:
  g_stop = 1;
  for (int t = 0; t < g_threads; t++) pthread_join(g_workers[t].th, NULL);
  return 0;
}
