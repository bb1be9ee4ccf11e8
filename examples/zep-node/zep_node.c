// A ZEP v2 node that behaves as RIOT's socket_zep under its IEEE 802.15.4 SubMAC: a sample AUT
// for ZEP radios, used by the Plexer's tests and `kuiga bench zep` (RIOT itself is not here):
//   zep_node -z [LADDR:LPORT,]RADDR:RPORT --eui64 EUI [--send N] [--interval MS] [--bytes B]
//            [--to EUI] [--echo] [--index I --senders K] [--delay MS] [--ack-wait US]
//            [--retries R] [--hello] [--garbage G]
// Sends N 802.15.4 data frames (extended source = EUI) to the dispatcher, one per MS
// milliseconds, printing "tx SEQ". Broadcast by default; with --to, unicast to that EUI-64 with
// the ACK request bit set, and then, as the SubMAC does: it waits US microseconds (864, the
// SubMAC's ACK_TIMEOUT_US) for an imm-ACK with the frame's sequence number, printing "acked
// SEQ", and otherwise sends the frame again ("retx SEQ"), up to R times (3), then "noack SEQ".
// Frames that arrive while it waits for an ACK are dropped, as the SubMAC drops them.
// It prints "rx SRC-EUI SEQ LEN bcast|ucast" for every data frame addressed to it or broadcast,
// and, for one that asks for an ACK, sends its own imm-ACK 192 us later (as socket_zep does).
// With --echo, it answers every broadcast it receives with a unicast frame to its source, the
// same way (as the neighbours answer a ping to ff02::1). With --index I (from {index}), only
// nodes with I below K send (--senders), and node I's first frame comes I * 7 ms after its
// start (modulo MS), so that a run's nodes do not all send at the same instant; --delay puts
// off the first frame (until the run's other nodes are up, say). After its
// last frame it goes on receiving and prints "done N" once, then "summary sent=.. acked=..
// retx=.. noack=.. rx=.. dropped_in_ack_wait=.." whenever the count of received frames
// changes. With --hello it first announces itself as RIOT's socket_zep_hello does (ZEP type
// 255 with its EUI-64). With --garbage, it first sends G datagrams a misconfigured node might
// (ZEP version 1, a ZEP ack, a truncated header, in turn) and prints "garbage G".
#define _GNU_SOURCE  // ppoll
#include <arpa/inet.h>
#include <netdb.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int64_t nowUs(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int resolve(const char* hostport, struct sockaddr_storage* out, socklen_t* len) {
  char buf[256];
  snprintf(buf, sizeof buf, "%s", hostport);
  char* colon = strrchr(buf, ':');
  if (!colon) return -1;
  *colon = 0;
  char* host = buf;
  if (host[0] == '[') {
    host++;
    host[strlen(host) - 1] = 0;
  }
  struct addrinfo hints = {.ai_socktype = SOCK_DGRAM}, *res;
  if (getaddrinfo(host, colon + 1, &hints, &res) != 0) return -1;
  memcpy(out, res->ai_addr, res->ai_addrlen);
  *len = res->ai_addrlen;
  freeaddrinfo(res);
  return 0;
}

// IEEE 802.15.4's FCS: CRC-16/KERMIT (ITU-T polynomial, reflected, initial 0), low byte first.
static uint16_t fcs(const uint8_t* d, size_t n) {
  uint16_t crc = 0;
  for (size_t i = 0; i < n; i++) {
    crc ^= d[i];
    for (int b = 0; b < 8; b++)
      crc = (crc & 1) ? (uint16_t)((crc >> 1) ^ 0x8408) : (uint16_t)(crc >> 1);
  }
  return crc;
}

static int parseEui(const char* s, uint8_t eui[8]) {
  unsigned v[8];
  if (sscanf(s, "%x:%x:%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6],
             &v[7]) != 8)
    return -1;
  for (int i = 0; i < 8; i++) eui[i] = (uint8_t)v[i];
  return 0;
}

struct node {
  int fd;
  struct sockaddr_storage remote;
  socklen_t remoteLen;
  uint8_t eui[8];
  uint8_t seq;
  bool echo;
  int bytes, ackWaitUs, retries;
  unsigned long sent, acked, retx, noack, rx, droppedInAckWait;
  long maxAckUs;  // the longest an ACK that came in time took
};

static void transmit(struct node* n, const uint8_t* to);

// Sends a ZEP v2 data packet carrying the 802.15.4 frame `f` of `len` bytes (FCS appended).
static void sendFrame(struct node* n, uint8_t* f, size_t len) {
  uint8_t pkt[32 + 127] = {'E', 'X', 2, 1, 26};
  uint16_t crc = fcs(f, len);
  f[len++] = (uint8_t)(crc & 0xff);
  f[len++] = (uint8_t)(crc >> 8);
  pkt[7] = 1;  // CRC mode
  pkt[20] = f[2];
  pkt[31] = (uint8_t)len;
  memcpy(pkt + 32, f, len);
  if (sendto(n->fd, pkt, 32 + len, 0, (struct sockaddr*)&n->remote, n->remoteLen) < 0)
    perror("sendto");
}

// The parts of a received MAC frame the node acts on.
struct mac {
  unsigned type;
  bool ackRequest, forMe, broadcast;
  uint8_t seq;
  const uint8_t* src;  // extended source, reversed on the air (NULL: none)
};

static bool parseMac(const struct node* n, const uint8_t* f, size_t len, struct mac* m) {
  if (len < 3) return false;
  unsigned fc = f[0] | f[1] << 8, dstMode = (fc >> 10) & 3, srcMode = (fc >> 14) & 3;
  m->type = fc & 7;
  m->ackRequest = fc & 0x20;
  m->seq = f[2];
  m->src = NULL;
  m->forMe = m->broadcast = false;
  size_t at = 3;
  if (dstMode == 2) {
    if (at + 4 > len) return false;
    m->forMe = m->broadcast = f[at + 2] == 0xff && f[at + 3] == 0xff;
    at += 4;
  } else if (dstMode == 3) {
    if (at + 10 > len) return false;
    m->forMe = true;
    for (int i = 0; i < 8; i++) m->forMe &= f[at + 2 + i] == n->eui[7 - i];
    at += 10;
  }
  if (srcMode) {
    if (!((fc & 0x40) && dstMode)) at += 2;  // source PAN
    if (srcMode == 3 && at + 8 <= len) m->src = f + at;
  }
  return true;
}

static void sendAck(struct node* n, uint8_t seq) {
  struct timespec turnaround = {0, 192000};  // 12 symbols, as socket_zep's ACK_DELAY_US
  nanosleep(&turnaround, NULL);
  uint8_t ack[8] = {0x02, 0x00, seq};
  sendFrame(n, ack, 3);
}

// Reads one datagram. Returns the sequence number of an imm-ACK it carried (-1: none).
static int receiveOne(struct node* n, bool waitingForAck) {
  uint8_t buf[256];
  ssize_t got = recv(n->fd, buf, sizeof buf, 0);
  if (got < 32 || buf[0] != 'E' || buf[1] != 'X' || buf[2] != 2 || buf[3] != 1) return -1;
  size_t len = buf[31];
  if (32 + len > (size_t)got || len < 5) return -1;
  struct mac m;
  if (!parseMac(n, buf + 32, len - 2, &m)) return -1;
  if (m.type == 2) {
    if (!waitingForAck) printf("late-ack %u\n", m.seq);
    return waitingForAck ? m.seq : -1;
  }
  if (!m.forMe) return -1;
  if (waitingForAck) {
    n->droppedInAckWait++;
    return -1;
  }
  n->rx++;
  if (m.src)
    printf("rx %02x:%02x:%02x:%02x:%02x:%02x:%02x:%02x %u %zu %s\n", m.src[7], m.src[6], m.src[5],
           m.src[4], m.src[3], m.src[2], m.src[1], m.src[0], m.seq, len,
           m.broadcast ? "bcast" : "ucast");
  if (m.ackRequest && !m.broadcast) sendAck(n, m.seq);
  if (n->echo && m.broadcast && m.src) {
    uint8_t to[8];
    for (int i = 0; i < 8; i++) to[i] = m.src[7 - i];
    transmit(n, to);
  }
  return -1;
}

static bool waitReadable(int fd, int64_t untilUs) {
  int64_t left = untilUs - nowUs();
  if (left < 0) left = 0;
  struct timespec ts = {(time_t)(left / 1000000), (long)(left % 1000000) * 1000};
  struct pollfd p = {.fd = fd, .events = POLLIN};
  return ppoll(&p, 1, &ts, NULL) > 0;
}

// One frame as the SubMAC sends it: to `to` (else broadcast) until it is acked or the retries
// are spent.
static void transmit(struct node* n, const uint8_t* to) {
  const uint8_t seq = n->seq++;
  uint8_t f[127];
  size_t len = 0;
  f[len++] = to ? 0x61 : 0x41;  // data, PAN ID compression (and with --to, ACK request)
  f[len++] = to ? 0xcc : 0xc8;  // dst extended (--to) or short, 2003, src extended
  f[len++] = seq;
  f[len++] = 0x23;
  f[len++] = 0x00;
  if (to) {
    for (int i = 7; i >= 0; i--) f[len++] = to[i];  // reversed on the air
  } else {
    f[len++] = 0xff;
    f[len++] = 0xff;
  }
  for (int i = 7; i >= 0; i--) f[len++] = n->eui[i];
  for (int i = 0; i < n->bytes; i++) f[len++] = (uint8_t)i;
  for (int attempt = 0; attempt <= (to ? n->retries : 0); attempt++) {
    sendFrame(n, f, len);
    n->sent++;
    if (attempt == 0)
      printf("tx %u\n", seq);
    else {
      n->retx++;
      printf("retx %u\n", seq);
    }
    if (!to) return;
    int64_t sentAt = nowUs(), deadline = sentAt + n->ackWaitUs;
    while (waitReadable(n->fd, deadline))
      if (receiveOne(n, true) == seq) {
        if (nowUs() - sentAt > n->maxAckUs) n->maxAckUs = (long)(nowUs() - sentAt);
        n->acked++;
        printf("acked %u\n", seq);
        return;
      }
  }
  n->noack++;
  printf("noack %u\n", seq);
}

static void sendGarbage(struct node* n, int garbage) {
  for (int g = 0; g < garbage; g++) {
    uint8_t bad[48] = {'E', 'X', 1, 1, 26};  // ZEP v1: RIOT speaks v2
    size_t len = sizeof bad;
    if (g % 3 == 1) {
      bad[2] = 2;  // a ZEP v2 ack: "EX" 2 2 and a sequence number
      bad[3] = 2;
      len = 8;
    } else if (g % 3 == 2) {
      bad[2] = 2;  // a v2 data header cut short
      len = 20;
    }
    if (sendto(n->fd, bad, len, 0, (struct sockaddr*)&n->remote, n->remoteLen) < 0)
      perror("sendto");
  }
  printf("garbage %d\n", garbage);
}

static void sendHello(struct node* n) {
  uint8_t hello[40] = {'E', 'X', 2, 255};
  memcpy(hello + 21, "HELLO", 5);
  hello[31] = 8;
  memcpy(hello + 32, n->eui, 8);
  if (sendto(n->fd, hello, sizeof hello, 0, (struct sockaddr*)&n->remote, n->remoteLen) < 0)
    perror("sendto");
  printf("hello\n");
}

static int open_socket(struct node* n, const char* zep) {
  struct sockaddr_storage local;
  socklen_t localLen = 0;
  const char* comma = strchr(zep, ',');
  char localStr[256] = "";
  if (comma) {
    snprintf(localStr, sizeof localStr, "%.*s", (int)(comma - zep), zep);
    zep = comma + 1;
    if (resolve(localStr, &local, &localLen)) return fprintf(stderr, "bad local %s\n", localStr), 2;
  }
  if (resolve(zep, &n->remote, &n->remoteLen)) return fprintf(stderr, "bad remote %s\n", zep), 2;
  n->fd = socket(n->remote.ss_family, SOCK_DGRAM, 0);
  if (n->fd < 0 || (localLen && bind(n->fd, (struct sockaddr*)&local, localLen) < 0)) {
    perror("socket");
    return 1;
  }
  return 0;
}

int main(int argc, char** argv) {
  const char* zep = NULL;
  struct node n = {0};
  uint8_t to[8];
  bool unicast = false, hello = false;
  int count = 10, interval = 100, garbage = 0, index = -1, senders = -1, delay = 0;
  n.bytes = 20;
  n.ackWaitUs = 864;
  n.retries = 3;
  for (int i = 1; i < argc; i++) {
    const char* a = argv[i];
    bool more = i + 1 < argc;
    if (!strcmp(a, "-z") && more)
      zep = argv[++i];
    else if (!strcmp(a, "--eui64") && more) {
      if (parseEui(argv[++i], n.eui)) return fprintf(stderr, "bad --eui64 %s\n", argv[i]), 2;
    } else if (!strcmp(a, "--to") && more) {
      if (parseEui(argv[++i], to)) return fprintf(stderr, "bad --to %s\n", argv[i]), 2;
      unicast = true;
    } else if (!strcmp(a, "--send") && more)
      count = atoi(argv[++i]);
    else if (!strcmp(a, "--interval") && more)
      interval = atoi(argv[++i]);
    else if (!strcmp(a, "--bytes") && more)
      n.bytes = atoi(argv[++i]);
    else if (!strcmp(a, "--garbage") && more)
      garbage = atoi(argv[++i]);
    else if (!strcmp(a, "--ack-wait") && more)
      n.ackWaitUs = atoi(argv[++i]);
    else if (!strcmp(a, "--retries") && more)
      n.retries = atoi(argv[++i]);
    else if (!strcmp(a, "--index") && more)
      index = atoi(argv[++i]);
    else if (!strcmp(a, "--senders") && more)
      senders = atoi(argv[++i]);
    else if (!strcmp(a, "--delay") && more)
      delay = atoi(argv[++i]);
    else if (!strcmp(a, "--hello"))
      hello = true;
    else if (!strcmp(a, "--echo"))
      n.echo = true;
    else
      return fprintf(stderr, "unknown argument %s\n", a), 2;
  }
  if (!zep) return fprintf(stderr, "usage: zep_node -z [LADDR:LPORT,]RADDR:RPORT --eui64 EUI\n"), 2;
  if (n.bytes < 2 || n.bytes > 100) return fprintf(stderr, "--bytes 2..100\n"), 2;
  if (n.retries < 0 || n.retries > 7) return fprintf(stderr, "--retries 0..7\n"), 2;
  if (interval < 1) return fprintf(stderr, "--interval 1 or more\n"), 2;
  if (senders >= 0 && index < 0) return fprintf(stderr, "--senders needs --index\n"), 2;
  if (senders >= 0 && index >= senders) count = 0;
  setvbuf(stdout, NULL, _IOLBF, 0);
  int rc = open_socket(&n, zep);
  if (rc) return rc;
  if (garbage) sendGarbage(&n, garbage);
  if (hello) sendHello(&n);
  int sent = 0;
  unsigned long reported = (unsigned long)-1;
  int64_t next =
      nowUs() + (int64_t)delay * 1000 + (index > 0 ? (int64_t)(index * 7 % interval) * 1000 : 0);
  if (count == 0) printf("done 0\n");
  for (;;) {
    int64_t until = sent < count ? next : nowUs() + 1000000;
    if (waitReadable(n.fd, until)) {
      receiveOne(&n, false);
    } else if (sent < count && nowUs() >= next) {
      transmit(&n, unicast ? to : NULL);
      if (++sent == count) printf("done %d\n", sent);
      next += (int64_t)interval * 1000;
    }
    if (sent == count && n.rx != reported) {
      reported = n.rx;
      printf(
          "summary sent=%lu acked=%lu retx=%lu noack=%lu rx=%lu dropped_in_ack_wait=%lu "
          "max_ack_us=%ld\n",
          n.sent, n.acked, n.retx, n.noack, n.rx, n.droppedInAckWait, n.maxAckUs);
    }
  }
}
