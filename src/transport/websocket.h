/* ---- websocket: declarations ---- */
