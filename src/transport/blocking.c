/* ---- blocking: implementation ---- */
