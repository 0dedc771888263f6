/* ---- nip19: implementation ---- */
