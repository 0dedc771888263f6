/* ---- tls: declarations ---- */
