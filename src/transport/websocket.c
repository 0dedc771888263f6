/* ---- websocket: implementation ---- */
