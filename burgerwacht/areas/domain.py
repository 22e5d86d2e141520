"""The areas domain: the area map route and the area and address imports."""

from burgerwacht.areas import api, cli
from burgerwacht.domain import Domain

DOMAIN = Domain(
    "areas",
    apis=(api.api,),
    commands=(cli.import_areas, cli.import_addresses),
)
