"""Buurtsignaal: residents' and fieldworkers' neighbourhood signals, privacy-safe
summaries for analysts, and the gebiedsscan comparison (informatiepositie)."""
