"""Images: the store, the registry client, pull/push, save/load/import and the service.

Entry points: :class:`berth.images.store.ImageStore` (what the engine uses)
and :class:`berth.images.service.ImageService` (one method per Engine API
image endpoint, returning Docker's JSON shapes).
"""
