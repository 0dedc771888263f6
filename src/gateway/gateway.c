/* ---- gateway: implementation (issue 5) ---- */
