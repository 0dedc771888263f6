/* ---- client: declarations ---- */
