/* ---- keys: implementation ---- */
