/* ---- pow: implementation ---- */
