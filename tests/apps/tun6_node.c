/* Talks IPv6 through a tun device the way Contiki-NG's native target does
 * (arch/cpu/native/net/tun6-net.c): as an unprivileged user it opens /dev/net/tun with
 * TUNSETIFF "tun0", IFF_TUN | IFF_NO_PI, takes `--prefix ADDR/64` (the host side of the tun,
 * Contiki's option), runs "ifconfig" through system() and ignores its failure, and numbers
 * itself from the prefix with the interface identifier every Contiki native node has (the
 * same link-layer address on each: 0x0302:0x0304:0x0506:0x0708 here). Its own little IPv6 and
 * UDP, like uIP's, on port 5678.
 *   tun6_node --prefix P/64 [--ping PEER-PREFIX/64 | --ping-index K | --to ADDR PORT]
 *             [--count N]
 * With --ping it sends N UDP requests ("ping K") to the peer's address, 200 ms apart, and
 * prints "reply K from ADDR" for each answer; every node answers each request with "pong K"
 * and prints "request K from ADDR". --ping-index K pings the node of the same run whose prefix
 * is this node's with K (hex) as its fourth group, Kuiga's plan fd6c:7569:RUN:INDEX::/64, unless
 * that is this node. --to sends the requests to ADDR:PORT instead (a base station's UDP echo,
 * which answers "ack ping K"). */
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define PORT 5678

static const uint8_t kIid[8] = {0x03, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08};

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The node's address in the /64 of "ADDR/64": the prefix and Contiki's interface identifier. */
static int address_in(const char* prefix, uint8_t out[16]) {
  char buf[64];
  snprintf(buf, sizeof buf, "%s", prefix);
  char* slash = strchr(buf, '/');
  if (!slash || strcmp(slash, "/64") != 0) return -1;
  *slash = 0;
  if (inet_pton(AF_INET6, buf, out) != 1) return -1;
  memcpy(out + 8, kIid, 8);
  return 0;
}

static uint16_t udp_checksum(const uint8_t* ip6, const uint8_t* udp, size_t len) {
  uint32_t sum = 0;
  for (int i = 8; i < 40; i += 2) sum += (uint32_t)(ip6[i] << 8 | ip6[i + 1]); /* addresses */
  sum += (uint32_t)len + 17;
  for (size_t i = 0; i < len; i += 2)
    sum += (uint32_t)(udp[i] << 8 | (i + 1 < len ? udp[i + 1] : 0));
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  uint16_t c = (uint16_t)~sum;
  return c ? c : 0xffff;
}

static void send_udp(int fd, const uint8_t src[16], const uint8_t dst[16], int dport,
                     const char* text) {
  uint8_t pkt[256] = {0x60};
  size_t n = strlen(text), udp_len = 8 + n;
  pkt[4] = (uint8_t)(udp_len >> 8);
  pkt[5] = (uint8_t)udp_len;
  pkt[6] = 17; /* UDP */
  pkt[7] = 64;
  memcpy(pkt + 8, src, 16);
  memcpy(pkt + 24, dst, 16);
  uint8_t* u = pkt + 40;
  u[0] = PORT >> 8, u[1] = PORT & 0xff, u[2] = (uint8_t)(dport >> 8), u[3] = (uint8_t)dport;
  u[4] = (uint8_t)(udp_len >> 8), u[5] = (uint8_t)udp_len;
  memcpy(u + 8, text, n);
  uint16_t c = udp_checksum(pkt, u, udp_len);
  u[6] = (uint8_t)(c >> 8), u[7] = (uint8_t)c;
  if (write(fd, pkt, 40 + udp_len) < 0) perror("write tun0");
}

int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  const char *prefix = NULL, *peer = NULL;
  int count = 5, peerIndex = -1, port = PORT;
  const char* to = NULL;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--to") && i + 2 < argc) {
      to = argv[i + 1];
      port = atoi(argv[i + 2]);
      ++i;
      continue;
    }
    if (!strcmp(argv[i], "--prefix"))
      prefix = argv[i + 1];
    else if (!strcmp(argv[i], "--ping"))
      peer = argv[i + 1];
    else if (!strcmp(argv[i], "--count"))
      count = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--ping-index"))
      peerIndex = atoi(argv[i + 1]);
    else
      return fprintf(stderr, "unknown argument %s\n", argv[i]), 2;
  }
  uint8_t me[16], them[16];
  if (!prefix || address_in(prefix, me)) return fprintf(stderr, "--prefix ADDR/64 needed\n"), 2;
  if (peer && address_in(peer, them)) return fprintf(stderr, "bad --ping %s\n", peer), 2;
  if (to) {
    if (inet_pton(AF_INET6, to, them) != 1) return fprintf(stderr, "bad --to %s\n", to), 2;
    peer = to;
  }
  if (peerIndex >= 0) {
    memcpy(them, me, 16);
    them[6] = (uint8_t)(peerIndex >> 8);
    them[7] = (uint8_t)peerIndex;
    if (memcmp(them, me, 16) != 0) peer = "index";
  }
  int fd = open("/dev/net/tun", O_RDWR);
  if (fd < 0) return perror("open /dev/net/tun"), 1;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  strncpy(ifr.ifr_name, "tun0", IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) return perror("TUNSETIFF tun0"), 1;
  char cmd[128];
  snprintf(cmd, sizeof cmd, "ifconfig tun0 add %s 2>/dev/null", prefix);
  int rc = system(cmd); /* fails here, as it does for an unprivileged Contiki node */
  char mine[INET6_ADDRSTRLEN];
  inet_ntop(AF_INET6, me, mine, sizeof mine);
  printf("opened tun0 as %s (ifconfig: %d)\n", mine, rc);
  int sent = 0;
  long long next = now_ms() + 1000; /* the other nodes come up meanwhile */
  for (;;) {
    long long wait = next - now_ms();
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, wait < 0 ? 0 : (int)wait) > 0) {
      uint8_t pkt[2048];
      ssize_t n = read(fd, pkt, sizeof pkt);
      if (n < 48 || (pkt[0] >> 4) != 6 || pkt[6] != 17 || memcmp(pkt + 24, me, 16) != 0) continue;
      uint8_t* u = pkt + 40;
      size_t len = (size_t)(u[4] << 8 | u[5]);
      if (len < 8 || 40 + len > (size_t)n || (u[2] << 8 | u[3]) != PORT) continue;
      char text[64] = "", from[INET6_ADDRSTRLEN];
      memcpy(text, u + 8, len - 8 < sizeof text - 1 ? len - 8 : sizeof text - 1);
      inet_ntop(AF_INET6, pkt + 8, from, sizeof from);
      int k;
      if (sscanf(text, "ping %d", &k) == 1) {
        printf("request %d from %s\n", k, from);
        char reply[32];
        snprintf(reply, sizeof reply, "pong %d", k);
        send_udp(fd, me, pkt + 8, PORT, reply);
      } else if (sscanf(text, "pong %d", &k) == 1 || sscanf(text, "ack ping %d", &k) == 1) {
        printf("reply %d from %s\n", k, from);
      }
      continue;
    }
    if (peer && sent < count && now_ms() >= next) {
      char text[32];
      snprintf(text, sizeof text, "ping %d", sent);
      send_udp(fd, me, them, port, text);
      printf("sent %d\n", sent++);
      next += 200;
    } else if (now_ms() >= next) {
      next += 1000;
    }
  }
}
