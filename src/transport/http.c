/* ---- http: implementation ---- */
