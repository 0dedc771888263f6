/* ---- builders: implementation ---- */
