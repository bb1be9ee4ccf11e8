/* coap-sensor: a CoAP device built on libcoap (Debian's libcoap3), as IoT firmware uses it.
 * Every PERIOD seconds it asks the base station for RESOURCE with a confirmable GET and logs
 * the answer as "reply N: PAYLOAD" or, when libcoap gives up after its retransmissions, "no
 * reply N (REASON)".
 *
 *   coap-sensor HOST [PERIOD [RESOURCE [INDEX]]]
 *
 * HOST is an IPv4 or IPv6 address, port 5683. The device INDEX ({index} in a run's arguments)
 * first waits INDEX mod PERIOD seconds, so that many devices do not ask in lockstep.
 */
#include <arpa/inet.h>
#include <coap3/coap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int answered; /* the request in flight: 0 waiting, 1 answered, -1 given up */
static long asked;

static coap_response_t on_reply(coap_session_t* session, const coap_pdu_t* sent,
                                const coap_pdu_t* received, const coap_mid_t mid) {
  (void)session, (void)sent, (void)mid;
  size_t len = 0;
  const uint8_t* data = NULL;
  coap_get_data(received, &len, &data);
  printf("reply %ld: %.*s\n", asked, (int)len, data ? (const char*)data : "");
  answered = 1;
  return COAP_RESPONSE_OK;
}

static void on_nack(coap_session_t* session, const coap_pdu_t* sent,
                    const coap_nack_reason_t reason, const coap_mid_t mid) {
  (void)session, (void)sent, (void)mid;
  printf("no reply %ld (%s)\n", asked,
         reason == COAP_NACK_TOO_MANY_RETRIES ? "too many retries" : "refused");
  answered = -1;
}

static int address_of(const char* host, coap_address_t* a) {
  coap_address_init(a);
  if (inet_pton(AF_INET, host, &a->addr.sin.sin_addr) == 1) {
    a->addr.sin.sin_family = AF_INET;
    a->addr.sin.sin_port = htons(5683);
    a->size = sizeof a->addr.sin;
    return 0;
  }
  if (inet_pton(AF_INET6, host, &a->addr.sin6.sin6_addr) == 1) {
    a->addr.sin6.sin6_family = AF_INET6;
    a->addr.sin6.sin6_port = htons(5683);
    a->size = sizeof a->addr.sin6;
    return 0;
  }
  return -1;
}

int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc < 2) {
    fprintf(stderr, "usage: %s HOST [PERIOD [RESOURCE [INDEX]]]\n", argv[0]);
    return 2;
  }
  const long period = argc > 2 ? atol(argv[2]) : 5;
  const char* resource = argc > 3 ? argv[3] : "time";
  const long index = argc > 4 ? atol(argv[4]) : 0;
  coap_address_t dst;
  if (period <= 0 || index < 0 || address_of(argv[1], &dst) < 0) {
    fprintf(stderr, "bad HOST or PERIOD\n");
    return 2;
  }
  coap_startup();
  coap_set_log_level(LOG_WARNING);
  coap_context_t* ctx = coap_new_context(NULL);
  coap_session_t* session = ctx ? coap_new_client_session(ctx, NULL, &dst, COAP_PROTO_UDP) : NULL;
  if (!session) {
    fprintf(stderr, "cannot make a CoAP session\n");
    return 1;
  }
  coap_register_response_handler(ctx, on_reply);
  coap_register_nack_handler(ctx, on_nack);
  printf("coap-sensor: GET coap://%s/%s every %ld s\n", argv[1], resource, period);
  sleep((unsigned)(index % period));
  for (asked = 0;; ++asked) {
    const time_t at = time(NULL);
    coap_pdu_t* pdu =
        coap_pdu_init(COAP_MESSAGE_CON, COAP_REQUEST_CODE_GET, coap_new_message_id(session),
                      coap_session_max_pdu_size(session));
    if (!pdu ||
        !coap_add_option(pdu, COAP_OPTION_URI_PATH, strlen(resource), (const uint8_t*)resource)) {
      fprintf(stderr, "cannot make a request\n");
      return 1;
    }
    answered = 0;
    if (coap_send(session, pdu) == COAP_INVALID_MID)
      printf("no reply %ld (send failed)\n", asked);
    else
      while (!answered) coap_io_process(ctx, 1000);
    const time_t next = at + period;
    while (time(NULL) < next) coap_io_process(ctx, 1000); /* late answers are consumed */
  }
}
