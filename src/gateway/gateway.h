/* ---- gateway: declarations (issue 5) ---- */
