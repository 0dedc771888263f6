/* ---- sha256: implementation ---- */
