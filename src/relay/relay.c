/* ---- relay: implementation (issue 4) ---- */
