/* ---- http: declarations ---- */
