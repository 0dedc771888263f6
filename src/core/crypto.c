/* ---- crypto: implementation ---- */
