/* Attaches to a tap device the way RIOT native does (TUNSETIFF on /dev/net/tun, as an
 * unprivileged user), broadcasts an Ethernet frame with its hostname every 100 ms, and prints
 * "heard NAME" for every frame from another sender. usage: tap_frames TAP [COUNT] */
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc < 2) return fprintf(stderr, "usage: %s TAP [COUNT]\n", argv[0]), 2;
  int count = argc > 2 ? atoi(argv[2]) : 30;
  int fd = open("/dev/net/tun", O_RDWR);
  if (fd < 0) return perror("open /dev/net/tun"), 1;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  strncpy(ifr.ifr_name, argv[1], IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) return perror("TUNSETIFF"), 1;
  char me[64] = "?";
  gethostname(me, sizeof me - 1);
  printf("attached to %s as %s\n", ifr.ifr_name, me);
  unsigned char frame[128];
  memset(frame, 0xff, 6);                           /* broadcast */
  memcpy(frame + 6, "\x02\x00\x00\x00\x00\x01", 6); /* any source */
  frame[12] = 0x88, frame[13] = 0xb5;               /* local experimental */
  size_t len = 14 + (size_t)snprintf((char*)frame + 14, sizeof frame - 14, "kuiga %s", me) + 1;
  if (len < 60) len = 60;
  long long next = now_ms();
  for (int sent = 0; sent < count;) {
    if (now_ms() >= next) {
      if (write(fd, frame, len) < 0) perror("write");
      ++sent;
      next += 100;
    }
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int left = (int)(next - now_ms());
    if (poll(&p, 1, left > 0 ? left : 0) > 0) {
      unsigned char in[2048];
      ssize_t n = read(fd, in, sizeof in);
      if (n > 20 && in[12] == 0x88 && in[13] == 0xb5 && !memcmp(in + 14, "kuiga ", 6) &&
          strcmp((char*)in + 20, me) != 0)
        printf("heard %s\n", (char*)in + 20);
    }
  }
  return 0;
}
