// A ZEP v2 node as RIOT's socket_zep is one: a sample AUT for ZEP radios, used by the Plexer's
// tests and `kuiga bench zep` (RIOT itself is not here):
//   zep_node -z [LADDR:LPORT,]RADDR:RPORT --eui64 EUI [--send N] [--interval MS] [--bytes B]
//            [--garbage G]
// Sends N 802.15.4 data frames (broadcast, extended source = EUI) to the dispatcher, one per
// MS milliseconds, printing "tx SEQ"; prints "rx SRC-EUI SEQ LEN" for every frame it receives;
// after its last frame it goes on receiving, and prints "done N" once. With --garbage, it
// first sends G datagrams a misconfigured node might (ZEP version 1, a ZEP ack, a truncated
// header, in turn) and prints "garbage G".
#include <arpa/inet.h>
#include <netdb.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int64_t nowMs(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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

int main(int argc, char** argv) {
  const char* zep = NULL;
  uint8_t eui[8] = {0};
  int count = 10, interval = 100, bytes = 20, garbage = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "-z") && i + 1 < argc)
      zep = argv[++i];
    else if (!strcmp(argv[i], "--eui64") && i + 1 < argc) {
      if (parseEui(argv[++i], eui)) return fprintf(stderr, "bad --eui64 %s\n", argv[i]), 2;
    } else if (!strcmp(argv[i], "--send") && i + 1 < argc)
      count = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--interval") && i + 1 < argc)
      interval = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--bytes") && i + 1 < argc)
      bytes = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--garbage") && i + 1 < argc)
      garbage = atoi(argv[++i]);
    else
      return fprintf(stderr, "unknown argument %s\n", argv[i]), 2;
  }
  if (!zep) return fprintf(stderr, "usage: zep_node -z [LADDR:LPORT,]RADDR:RPORT --eui64 EUI\n"), 2;
  if (bytes < 2 || bytes > 100) return fprintf(stderr, "--bytes 2..100\n"), 2;
  setvbuf(stdout, NULL, _IOLBF, 0);
  struct sockaddr_storage local, remote;
  socklen_t localLen = 0, remoteLen;
  const char* comma = strchr(zep, ',');
  char localStr[256] = "";
  if (comma) {
    snprintf(localStr, sizeof localStr, "%.*s", (int)(comma - zep), zep);
    zep = comma + 1;
    if (resolve(localStr, &local, &localLen)) return fprintf(stderr, "bad local %s\n", localStr), 2;
  }
  if (resolve(zep, &remote, &remoteLen)) return fprintf(stderr, "bad remote %s\n", zep), 2;
  int fd = socket(remote.ss_family, SOCK_DGRAM, 0);
  if (fd < 0 || (localLen && bind(fd, (struct sockaddr*)&local, localLen) < 0)) {
    perror("socket");
    return 1;
  }
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
    if (sendto(fd, bad, len, 0, (struct sockaddr*)&remote, remoteLen) < 0) perror("sendto");
  }
  if (garbage) printf("garbage %d\n", garbage);
  int sent = 0;
  int64_t next = nowMs();
  for (;;) {
    int64_t wait = sent < count ? next - nowMs() : 1000;
    if (wait < 0) wait = 0;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, (int)wait) > 0) {
      uint8_t buf[256];
      ssize_t n = recv(fd, buf, sizeof buf, 0);
      // ZEP v2 data: 32-byte header, then FC(2) seq(1) pan(2) dst(2) src(8) payload FCS(2).
      if (n >= 32 + 15 && buf[0] == 'E' && buf[1] == 'X' && buf[2] == 2 && buf[3] == 1) {
        uint8_t* f = buf + 32;
        printf("rx %02x:%02x:%02x:%02x:%02x:%02x:%02x:%02x %u %u\n", f[14], f[13], f[12], f[11],
               f[10], f[9], f[8], f[7], f[2], buf[31]);
      }
      continue;
    }
    if (sent < count && nowMs() >= next) {
      uint8_t pkt[32 + 127] = {'E', 'X', 2, 1, 26};
      uint8_t* f = pkt + 32;
      uint8_t seq = (uint8_t)sent;
      size_t len = 0;
      f[len++] = 0x41;  // data, PAN ID compression
      f[len++] = 0xc8;  // dst short, 2003, src extended
      f[len++] = seq;
      f[len++] = 0x23;
      f[len++] = 0x00;
      f[len++] = 0xff;
      f[len++] = 0xff;
      for (int i = 7; i >= 0; i--) f[len++] = eui[i];  // reversed on the air
      for (int i = 0; i < bytes; i++) f[len++] = (uint8_t)i;
      uint16_t crc = fcs(f, len);
      f[len++] = (uint8_t)(crc & 0xff);
      f[len++] = (uint8_t)(crc >> 8);
      pkt[7] = 1;  // CRC mode
      pkt[20] = seq;
      pkt[31] = (uint8_t)len;
      if (sendto(fd, pkt, 32 + len, 0, (struct sockaddr*)&remote, remoteLen) < 0) perror("sendto");
      printf("tx %d\n", sent);
      if (++sent == count) printf("done %d\n", sent);
      next += interval;
    }
  }
}
