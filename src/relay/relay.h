/* ---- relay: declarations (issue 4) ---- */
