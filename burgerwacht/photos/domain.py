"""Alert photos (issue 17): upload on a draft, the public photo URL, the purge."""

from burgerwacht.domain import Domain
from burgerwacht.photos import api, jobs

DOMAIN = Domain("photos", apis=(api.api,), jobs=(jobs.purge_photos,))
