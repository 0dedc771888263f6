/* ---- filter: implementation ---- */
