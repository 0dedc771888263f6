/* ---- event: implementation ---- */
