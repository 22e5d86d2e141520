"""The council domain: the safety report for the council and the lokale driehoek."""

from burgerwacht.council import api
from burgerwacht.domain import Domain

DOMAIN = Domain("council", apis=(api.api,))
