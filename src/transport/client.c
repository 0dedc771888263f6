/* ---- client: implementation ---- */
