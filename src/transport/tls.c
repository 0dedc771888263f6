/* ---- tls: implementation ---- */
