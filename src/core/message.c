/* ---- message: implementation ---- */
