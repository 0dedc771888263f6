/* The RabbitMQ adapter's client library (librabbitmq 0.11 as Debian ships
 * it: headers at the include root, not under rabbitmq-c/). */
#ifdef NOSTR_WITH_RABBITMQ
#include <amqp.h>
#include <amqp_tcp_socket.h>
#endif
