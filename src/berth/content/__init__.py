"""Content-addressed blobs (``berth.content.store``) and one-pass verifying streams."""
