"""Fetches call recordings from the telephony provider into the blob store and records that on the
customer's stream (``RecordingStored`` / ``RecordingUnavailable``)."""
