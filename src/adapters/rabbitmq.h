/* ---- rabbitmq: the queue adapter (librabbitmq), NOSTR_WITH_RABBITMQ ---- */
