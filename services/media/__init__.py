"""Fetches the media interactions reference (call recordings, files of chat and social messages) into
the blob store and records that on the customer's stream (``RecordingStored``/``RecordingUnavailable``,
``MediaStored``/``MediaUnavailable``)."""
