/* ---- blocking: declarations ---- */
