"""The Accord session: stages, routing, consent, pacing, agreements, storage and the event log."""
