/* ---- rabbitmq: implementation ---- */
