/* udp-sensor: a sensor that reports to a base station over UDP, and a sink to act as one.
 *
 *   udp-sensor send HOST PORT [PERIOD_MS [COUNT]] [--replies] [--from-port P]
 *       every period sends the datagram "reading N from HOSTNAME" and logs
 *       "sent N BYTES HOST:PORT"; with --replies it also logs each reply as "reply N ...".
 *       With --from-port it sends from local port P (Kuiga's {port}: the devices of a group
 *       share an address and are told apart by it).
 *   udp-sensor sink PORT [--echo] [--quiet]
 *       logs every datagram as "recv BYTES FROM: TEXT"; with --echo it answers "ack TEXT";
 *       with --quiet it logs only "received N datagrams, B bytes" once a second when N grew,
 *       and once more when SIGTERM stops it (a base station under load, whose own log must not
 *       be the bottleneck).
 *   udp-sensor flood HOST PORT RATE SECONDS [BYTES [START_MS [PHASE]]]
 *       a load generator: sends RATE datagrams per second (evenly spaced) of BYTES bytes
 *       (default 64) for SECONDS, logs "sent N failed M" once, then stays idle until it is
 *       stopped, so that its interface and counters outlive the sending. With START_MS (Unix
 *       time in ms) it begins then, plus PHASE (0 to 1, or I/N: I Nths) of a period, so that
 *       many senders can start together without sending in lockstep.
 *
 * HOST is an IPv4 or IPv6 address. COUNT 0 (the default) means forever.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int usage(const char* argv0) {
  fprintf(stderr,
          "usage: %s send HOST PORT [PERIOD_MS [COUNT]] [--replies] [--from-port P]\n"
          "       %s sink PORT [--echo] [--quiet]\n"
          "       %s flood HOST PORT RATE SECONDS [BYTES [START_MS [PHASE]]]\n",
          argv0, argv0, argv0);
  return 2;
}

static int has_flag(int argc, char** argv, const char* flag) {
  for (int i = 1; i < argc; ++i)
    if (!strcmp(argv[i], flag)) return 1;
  return 0;
}

static volatile sig_atomic_t terminated;
static void on_term(int sig) {
  (void)sig;
  terminated = 1;
}

static int sink(const char* port, int echo, int quiet) {
  if (quiet) {
    struct sigaction sa = {.sa_handler = on_term}; /* no SA_RESTART: poll() returns */
    sigaction(SIGTERM, &sa, NULL);
  }
  struct addrinfo hints = {
      .ai_family = AF_INET6, .ai_socktype = SOCK_DGRAM, .ai_flags = AI_PASSIVE};
  struct addrinfo* ai;
  if (getaddrinfo(NULL, port, &hints, &ai) != 0) return fprintf(stderr, "bad port %s\n", port), 2;
  int fd = socket(AF_INET6, SOCK_DGRAM, 0);
  int off = 0;
  setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off); /* IPv4 too */
  if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) < 0) return perror("bind"), 1;
  freeaddrinfo(ai);
  printf("listening on port %s\n", port);
  char buf[2048], from[INET6_ADDRSTRLEN];
  unsigned long long count = 0, bytes = 0, told = 0;
  long long next = now_ms() + 1000;
  for (;;) {
    struct sockaddr_storage peer;
    socklen_t len = sizeof peer;
    if (quiet && terminated) {
      printf("received %llu datagrams, %llu bytes\n", count, bytes);
      return 0;
    }
    if (quiet) {
      struct pollfd p = {.fd = fd, .events = POLLIN};
      long long wait = next - now_ms();
      int ready = poll(&p, 1, wait > 0 ? (int)wait : 0);
      if (terminated) continue;
      if (now_ms() >= next) {
        if (count != told) printf("received %llu datagrams, %llu bytes\n", count, bytes);
        told = count;
        next += 1000;
      }
      if (ready <= 0) continue;
    }
    ssize_t n = recvfrom(fd, buf, sizeof buf - 1, 0, (struct sockaddr*)&peer, &len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return perror("recvfrom"), 1;
    }
    buf[n] = 0;
    ++count;
    bytes += (unsigned long long)n;
    inet_ntop(AF_INET6, &((struct sockaddr_in6*)&peer)->sin6_addr, from, sizeof from);
    if (!quiet) printf("recv %zd %s: %s\n", n, from, buf);
    if (echo) {
      char reply[2100];
      int m = snprintf(reply, sizeof reply, "ack %s", buf);
      sendto(fd, reply, (size_t)m, 0, (struct sockaddr*)&peer, len);
    }
  }
}

/* A UDP socket connected to HOST:PORT, from local port `from` unless it is 0, or minus the
 * exit code after saying why. */
static int connect_udp(const char* host, const char* port, int from) {
  struct addrinfo hints = {.ai_socktype = SOCK_DGRAM};
  struct addrinfo* ai;
  int rc = getaddrinfo(host, port, &hints, &ai);
  if (rc != 0) return fprintf(stderr, "cannot resolve %s: %s\n", host, gai_strerror(rc)), -2;
  int fd = socket(ai->ai_family, SOCK_DGRAM, 0);
  struct sockaddr_storage local = {.ss_family = (sa_family_t)ai->ai_family};
  if (ai->ai_family == AF_INET)
    ((struct sockaddr_in*)&local)->sin_port = htons((uint16_t)from);
  else
    ((struct sockaddr_in6*)&local)->sin6_port = htons((uint16_t)from);
  if (fd >= 0 && from > 0 && bind(fd, (struct sockaddr*)&local, sizeof local) < 0) {
    perror("bind");
    freeaddrinfo(ai);
    return -1;
  }
  if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
    perror("connect");
    freeaddrinfo(ai);
    return -1;
  }
  freeaddrinfo(ai);
  return fd;
}

static int send_loop(const char* host, const char* port, long long period, long long count,
                     int replies, int from) {
  int fd = connect_udp(host, port, from);
  if (fd < 0) return -fd;
  char me[64] = "?";
  gethostname(me, sizeof me - 1);
  long long next = now_ms();
  for (long long n = 1; count == 0 || n <= count; ++n) {
    char msg[128];
    int len = snprintf(msg, sizeof msg, "reading %lld from %s", n, me);
    if (send(fd, msg, (size_t)len, 0) < 0)
      printf("send-failed %lld %s\n", n, strerror(errno));
    else
      printf("sent %lld %d %s:%s\n", n, len, host, port);
    next += period;
    /* Wait for the next period, logging replies meanwhile. */
    for (long long left; (left = next - now_ms()) > 0;) {
      struct pollfd p = {.fd = fd, .events = POLLIN};
      if (poll(&p, 1, (int)left) > 0 && replies) {
        char buf[2048];
        ssize_t r = recv(fd, buf, sizeof buf - 1, 0);
        if (r > 0) {
          buf[r] = 0;
          printf("reply %s\n", buf);
        }
      } else if (!replies && left > 0) {
        usleep((useconds_t)left * 1000);
      }
    }
  }
  return 0;
}

static int flood(const char* host, const char* port, double rate, double seconds, long bytes,
                 long long startMs, double phase) {
  int fd = connect_udp(host, port, 0);
  if (fd < 0) return -fd;
  static char buf[65536];
  memset(buf, 'k', sizeof buf);
  const long long step = (long long)(1e9 / rate);
  struct timespec next;
  if (startMs > 0) {
    long long at = startMs * 1000000 + (long long)(phase * (double)step);
    next.tv_sec = at / 1000000000;
    next.tv_nsec = at % 1000000000;
    while (clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &next, NULL) == EINTR) {
    }
  }
  clock_gettime(CLOCK_MONOTONIC, &next);
  const long long total = (long long)(rate * seconds);
  long long sent = 0, failed = 0;
  for (long long n = 0; n < total; ++n) {
    if (send(fd, buf, (size_t)bytes, 0) < 0)
      ++failed;
    else
      ++sent;
    next.tv_nsec += step % 1000000000;
    next.tv_sec += step / 1000000000 + next.tv_nsec / 1000000000;
    next.tv_nsec %= 1000000000;
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR) {
    }
  }
  printf("sent %lld failed %lld\n", sent, failed);
  for (;;) pause();
}

int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc >= 3 && !strcmp(argv[1], "sink"))
    return sink(argv[2], has_flag(argc, argv, "--echo"), has_flag(argc, argv, "--quiet"));
  if (argc >= 4 && !strcmp(argv[1], "send")) {
    long long period = argc > 4 && argv[4][0] != '-' ? atoll(argv[4]) : 1000;
    long long count = argc > 5 && argv[5][0] != '-' ? atoll(argv[5]) : 0;
    if (period <= 0 || count < 0) return usage(argv[0]);
    int from = 0;
    for (int i = 4; i + 1 < argc; ++i)
      if (!strcmp(argv[i], "--from-port")) from = atoi(argv[i + 1]);
    if (from < 0 || from > 65535) return usage(argv[0]);
    return send_loop(argv[2], argv[3], period, count, has_flag(argc, argv, "--replies"), from);
  }
  if (argc >= 6 && !strcmp(argv[1], "flood")) {
    double rate = atof(argv[4]), seconds = atof(argv[5]);
    long bytes = argc > 6 ? atol(argv[6]) : 64;
    long long startMs = argc > 7 ? atoll(argv[7]) : 0;
    double phase = argc > 8 ? atof(argv[8]) : 0;
    const char* slash = argc > 8 ? strchr(argv[8], '/') : NULL;
    if (slash) phase = atof(slash + 1) > 0 ? phase / atof(slash + 1) : -1; /* "{index}/{count}" */
    if (rate <= 0 || rate > 1e6 || seconds <= 0 || bytes < 1 || bytes > 65507 || startMs < 0 ||
        phase < 0 || phase >= 1)
      return usage(argv[0]);
    return flood(argv[2], argv[3], rate, seconds, bytes, startMs, phase);
  }
  return usage(argv[0]);
}
