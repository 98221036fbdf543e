/*
 * Gyre benchmark load client (receiving side).
 *
 * Opens N WebSocket connections to a server speaking the Centrifugo JSON
 * protocol, sends connect+subscribe on each, then counts publications and
 * records delivery latency from the timestamp embedded in each payload
 * ({"t":<CLOCK_MONOTONIC microseconds>,"s":<seq>}).
 *
 * Build: gcc -O2 -pthread -o loadclient loadclient.c
 *
 * Control protocol (line based):
 *   stdout  "READY {json}"   once every connection is subscribed or failed
 *   stdin   "EXPECT <n>"     print "DONE {json}" once n publications arrived
 *   stdin   "RESET"          zero all counters and histograms, reply "RESET_OK"
 *   stdin   "REPORT"         print "STATS {json}" now
 *   stdin   "QUIT" or EOF    exit
 *
 * Each worker thread owns an epoll instance and a slice of the connections.
 * Reads go into one per-thread buffer; an incomplete trailing frame is
 * stashed per connection and prepended to the next read.
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
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LAT_FINE 100000u   /* 1 us buckets: [0, 100 ms) */
#define LAT_COARSE 100000u /* 1 ms buckets: [100 ms, 100.1 s) */
#define RBUF_INIT (256u * 1024u)
#define MAX_EVENTS 512

enum { ST_CONNECTING = 0, ST_HANDSHAKE, ST_SUBSCRIBING, ST_READY, ST_DEAD };

typedef struct {
  int fd;
  uint8_t state;
  uint8_t frag_op;
  uint32_t stash_len, stash_cap;
  uint8_t *stash;
  uint8_t *msg;
  uint32_t msg_len, msg_cap;
  int64_t last_seq;
} conn_t;

typedef struct {
  int id;
  int epfd;
  conn_t *conns;
  int nconns;
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
  int64_t first_us, last_us;
  uint64_t lat_sum, lat_max;
  uint32_t *hist_fine;
  uint32_t *hist_coarse;
  uint64_t hist_over;
  int last_close_code;
  char first_error[160];

  uint64_t reset_seen;
  pthread_t th;
} worker_t;

static struct sockaddr_in g_addr;
static const char *g_host = "127.0.0.1";
static int g_port = 8000;
static const char *g_path = "/connection/websocket";
static int g_nconns = 1000;
static int g_threads = 1;
static int g_maxpending = 256;
static int g_setup_timeout_s = 120;
static char g_upgrade[512];
static size_t g_upgrade_len;
static const char g_sub_cmd[] =
    "{\"connect\":{},\"id\":1}\n{\"subscribe\":{\"channel\":\"bench\"},\"id\":2}";

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

static void note_error(worker_t *w, const char *what, const uint8_t *p, size_t n) {
  if (w->first_error[0]) return;
  size_t cap = sizeof(w->first_error) - 1;
  size_t k = (size_t)snprintf(w->first_error, cap, "%s", what);
  for (size_t i = 0; i < n && k < cap; i++) {
    char ch = (char)p[i];
    /* keep it JSON-string safe */
    if (ch == '"' || ch == '\\' || (unsigned char)ch < 0x20) ch = '\'';
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

static void record_latency(worker_t *w, int64_t lat) {
  if (lat < 0) lat = 0;
  uint64_t v = (uint64_t)lat;
  if (v < LAT_FINE) {
    w->hist_fine[v]++;
  } else {
    uint64_t b = (v - LAT_FINE) / 1000;
    if (b < LAT_COARSE)
      w->hist_coarse[b]++;
    else
      w->hist_over++;
  }
  w->lat_sum += v;
  if (v > w->lat_max) w->lat_max = v;
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

static void handle_line(worker_t *w, conn_t *c, const uint8_t *p, size_t n, int64_t now) {
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
    if (memmem(p, n, "\"subscribe\"", 11)) {
      c->state = ST_READY;
      w->pending--;
      bump(&w->ready);
    }
    return;
  }
  const uint8_t *pub = memmem(p, n, "\"pub\"", 5);
  if (!pub) {
    bump(&w->other_msgs);
    if (memmem(p, n, "\"disconnect\"", 12)) note_error(w, "push: ", p, n);
    return;
  }
  size_t rest = n - (size_t)(pub - p);
  int64_t t = 0, s = -1;
  if (parse_int_after(pub, rest, "\"t\":", 4, &t)) record_latency(w, now - t);
  if (parse_int_after(pub, rest, "\"s\":", 4, &s)) {
    if (c->last_seq >= 0 && s != c->last_seq + 1) bump(&w->order_err);
    c->last_seq = s;
  }
  if (w->first_us == 0) w->first_us = now;
  w->last_us = now;
  /* release: histogram updates above are visible to whoever sees this count */
  __atomic_store_n(&w->received, w->received + 1, __ATOMIC_RELEASE);
}

static void handle_message(worker_t *w, conn_t *c, const uint8_t *p, size_t n, int64_t now) {
  const uint8_t *end = p + n;
  while (p < end && c->state != ST_DEAD) {
    const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
    const uint8_t *le = nl ? nl : end;
    if (le > p) handle_line(w, c, p, (size_t)(le - p), now);
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
    conn_dead(w, c);
    return;
  }
  if (n < 0) {
    if (errno != EAGAIN && errno != EINTR) conn_dead(w, c);
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
    send_frame(w, c, 0x1, (const uint8_t *)g_sub_cmd, sizeof(g_sub_cmd) - 1);
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
  ssize_t n = write(c->fd, g_upgrade, g_upgrade_len);
  if (n != (ssize_t)g_upgrade_len) {
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
  c->last_seq = -1;
  c->state = ST_CONNECTING;
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
  if (connect(c->fd, (struct sockaddr *)&g_addr, sizeof(g_addr)) < 0 && errno != EINPROGRESS) {
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
  w->closed = w->pings = w->order_err = w->write_err = w->other_msgs = 0;
  w->first_us = w->last_us = 0;
  w->lat_sum = w->lat_max = 0;
  memset(w->hist_fine, 0, LAT_FINE * sizeof(uint32_t));
  memset(w->hist_coarse, 0, LAT_COARSE * sizeof(uint32_t));
  w->hist_over = 0;
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

static uint64_t percentile(const uint64_t *fine, const uint64_t *coarse, uint64_t over, uint64_t total, double q) {
  (void)over;
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

static void print_stats(const char *tag) {
  static uint64_t fine[LAT_FINE];
  static uint64_t coarse[LAT_COARSE];
  memset(fine, 0, sizeof(fine));
  memset(coarse, 0, sizeof(coarse));
  uint64_t over = 0, total = 0, lat_sum = 0, lat_max = 0;
  int64_t first = 0, last = 0;
  int close_code = 0;
  const char *err = "";
  uint64_t received = SUM(received); /* acquire before reading histograms */
  for (int t = 0; t < g_threads; t++) {
    worker_t *w = &g_workers[t];
    for (uint32_t i = 0; i < LAT_FINE; i++) {
      fine[i] += w->hist_fine[i];
      total += w->hist_fine[i];
    }
    for (uint32_t i = 0; i < LAT_COARSE; i++) {
      coarse[i] += w->hist_coarse[i];
      total += w->hist_coarse[i];
    }
    over += w->hist_over;
    total += w->hist_over;
    lat_sum += w->lat_sum;
    if (w->lat_max > lat_max) lat_max = w->lat_max;
    if (w->first_us && (first == 0 || w->first_us < first)) first = w->first_us;
    if (w->last_us > last) last = w->last_us;
    if (w->last_close_code) close_code = w->last_close_code;
    if (!err[0] && w->first_error[0]) err = w->first_error;
  }
  printf("%s {\"received\":%llu,\"samples\":%llu,\"first_us\":%lld,\"last_us\":%lld,"
         "\"p50_us\":%llu,\"p90_us\":%llu,\"p99_us\":%llu,\"p999_us\":%llu,\"max_us\":%llu,\"mean_us\":%.1f,"
         "\"ready\":%llu,\"failed\":%llu,\"closed\":%llu,\"pings\":%llu,\"order_errors\":%llu,"
         "\"write_errors\":%llu,\"other_msgs\":%llu,\"close_code\":%d,\"error\":\"%s\"}\n",
         tag, (unsigned long long)received, (unsigned long long)total, (long long)first, (long long)last,
         (unsigned long long)percentile(fine, coarse, over, total, 0.50),
         (unsigned long long)percentile(fine, coarse, over, total, 0.90),
         (unsigned long long)percentile(fine, coarse, over, total, 0.99),
         (unsigned long long)percentile(fine, coarse, over, total, 0.999), (unsigned long long)lat_max,
         total ? (double)lat_sum / (double)total : 0.0, (unsigned long long)SUM(ready),
         (unsigned long long)SUM(failed), (unsigned long long)SUM(closed), (unsigned long long)SUM(pings),
         (unsigned long long)SUM(order_err), (unsigned long long)SUM(write_err),
         (unsigned long long)SUM(other_msgs), close_code, err);
  fflush(stdout);
}

static void usage(void) {
  fprintf(stderr,
          "usage: loadclient --port N [--host 127.0.0.1] [--path /connection/websocket]\n"
          "                  [--conns N] [--threads T] [--maxpending P] [--setup-timeout S]\n");
  exit(2);
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!v) usage();
    if (!strcmp(a, "--host")) g_host = v;
    else if (!strcmp(a, "--port")) g_port = atoi(v);
    else if (!strcmp(a, "--path")) g_path = v;
    else if (!strcmp(a, "--conns")) g_nconns = atoi(v);
    else if (!strcmp(a, "--threads")) g_threads = atoi(v);
    else if (!strcmp(a, "--maxpending")) g_maxpending = atoi(v);
    else if (!strcmp(a, "--setup-timeout")) g_setup_timeout_s = atoi(v);
    else usage();
    i++;
  }
  if (g_threads < 1) g_threads = 1;
  if (g_threads > g_nconns && g_nconns > 0) g_threads = g_nconns;
  if (g_maxpending < 1) g_maxpending = 1;

  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }

  memset(&g_addr, 0, sizeof(g_addr));
  g_addr.sin_family = AF_INET;
  g_addr.sin_port = htons((uint16_t)g_port);
  if (inet_pton(AF_INET, g_host, &g_addr.sin_addr) != 1) {
    fprintf(stderr, "bad host %s\n", g_host);
    return 2;
  }
  g_upgrade_len = (size_t)snprintf(g_upgrade, sizeof(g_upgrade),
                                   "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                                   "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                   "Sec-WebSocket-Version: 13\r\n\r\n",
                                   g_path, g_host, g_port);

  g_workers = calloc((size_t)g_threads, sizeof(worker_t));
  int per = g_nconns / g_threads, extra = g_nconns % g_threads;
  for (int t = 0; t < g_threads; t++) {
    worker_t *w = &g_workers[t];
    w->id = t;
    w->nconns = per + (t < extra ? 1 : 0);
    w->conns = calloc((size_t)(w->nconns ? w->nconns : 1), sizeof(conn_t));
    w->epfd = epoll_create1(EPOLL_CLOEXEC);
    w->rcap = RBUF_INIT;
    w->rbuf = malloc(w->rcap);
    w->hist_fine = calloc(LAT_FINE, sizeof(uint32_t));
    w->hist_coarse = calloc(LAT_COARSE, sizeof(uint32_t));
    w->rng = 0x9E3779B97F4A7C15ull ^ ((uint64_t)(t + 1) * 0xBF58476D1CE4E5B9ull) ^ (uint64_t)mono_us();
    if (!w->conns || w->epfd < 0 || !w->rbuf || !w->hist_fine || !w->hist_coarse) {
      fprintf(stderr, "out of memory\n");
      return 1;
    }
  }
  /* spread the per-thread pending budget */
  g_maxpending = g_maxpending / g_threads > 0 ? g_maxpending / g_threads : 1;
  for (int t = 0; t < g_threads; t++) pthread_create(&g_workers[t].th, NULL, worker_main, &g_workers[t]);

  /* setup phase */
  for (;;) {
    uint64_t done = SUM(ready) + SUM(failed);
    if (done >= (uint64_t)g_nconns) break;
    usleep(5000);
  }
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
