"""artist_search_sync: TattooDirectory artist items -> search documents, and the search API's query.

The TattooDirectory table holds many item types under one key schema; the search index
holds exactly one document per artist, built from the artist's metadata item::

    PK = "ARTIST#{artistId}", SK = "METADATA"
    {"artistName": "Jo Ink", "styles": {"Blackwork", "Fine Line"}, "locationCity": "Leeds",
     "locationDisplay": "Leeds, UK", "rating": Decimal("4.8"), "reviewCount": 52, ...}

    -> {"artistId": "a-1", "name": "Jo Ink", "styles": ["blackwork", "fine-line"],
        "city": "Leeds", "cityKey": "leeds", "rating": 4.8, ...}

A Pipe filters the table's stream with `PIPE_FILTER_PATTERN` and hands batches of stream
records to the state machine; `collapse` keeps the newest record per artist.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from aws_lambda_powertools.utilities.parser.models import (
    DynamoDBStreamChangedRecordModel,
    DynamoDBStreamRecordModel,
)
from boto3.dynamodb.types import TypeDeserializer
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    StringConstraints,
    field_validator,
    model_validator,
)

FLOW = "artist_search_sync"

PARTITION_KEY = "PK"
SORT_KEY = "SK"
ARTIST_PK_PREFIX = "ARTIST#"
METADATA_SK = "METADATA"

# FilterCriteria.Filters[].Pattern of the Pipe: only artist metadata records reach the
# state machine (REMOVE records carry Keys too, so deletions pass).
PIPE_FILTER_PATTERN: dict[str, Any] = {
    "dynamodb": {
        "Keys": {
            PARTITION_KEY: {"S": [{"prefix": ARTIST_PK_PREFIX}]},
            SORT_KEY: {"S": [METADATA_SK]},
        }
    }
}

# Printable, no surrounding whitespace: the id is also the search document's id.
ARTIST_ID_PATTERN = r"^[^\s\x00-\x1f\x7f](?:[^\x00-\x1f\x7f]{0,126}[^\s\x00-\x1f\x7f])?$"
ArtistId = Annotated[str, StringConstraints(pattern=ARTIST_ID_PATTERN)]

MAX_QUERY_CHARS = 200
MAX_STYLE_CHARS = 50
MAX_CITY_CHARS = 100
DEFAULT_LIMIT = 20
MAX_LIMIT = 100

_DESERIALIZER = TypeDeserializer()
_NOT_KEY_CHARS = re.compile(r"[\W_]+")


def normalize_key(value: str) -> str:
    """The filter form of a style or city: "Neo Traditional" and "neo_traditional" agree."""
    return _NOT_KEY_CHARS.sub("-", value.casefold()).strip("-")


def deserialize_image(image: dict[str, Any]) -> dict[str, Any]:
    """A DynamoDB-JSON image as the table's writers see it (boto3 types: Decimal, set, Binary)."""
    return {name: _DESERIALIZER.deserialize(value) for name, value in image.items()}


def artist_id_from_keys(keys: dict[str, Any]) -> str | None:
    """The artist id of an ARTIST#{id} / METADATA key, or None for any other item type."""
    pk, sk = keys.get(PARTITION_KEY), keys.get(SORT_KEY)
    if not isinstance(pk, str) or sk != METADATA_SK or not pk.startswith(ARTIST_PK_PREFIX):
        return None
    return pk.removeprefix(ARTIST_PK_PREFIX) or None


def changed_fields(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Attribute names added, removed or given another value (names only: values may be PII)."""
    return sorted(name for name in old.keys() | new.keys() if old.get(name) != new.get(name))


# -- The source item ---------------------------------------------------------------------


def _sorted_strings(value: Any) -> Any:
    # String sets (SS) come back as Python sets; sort them so documents are deterministic.
    if isinstance(value, set | frozenset):
        return sorted(value)
    return value


class GeoPoint(BaseModel):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


# What the search document carries over from the item as it is, under the same names.
_UNCHANGED_IN_DOCUMENT = {
    "studioName",
    "instagramHandle",
    "bio",
    "geohash",
    "rating",
    "reviewCount",
    "updatedAt",
}


class ArtistItem(BaseModel):
    """The artist's METADATA item, decoded with boto3's TypeDeserializer.

    Only the attributes below are indexed; GSI keys, portfolio images and the like are
    allowed and ignored.
    """

    model_config = ConfigDict(extra="allow")

    PK: str = Field(pattern=r"^ARTIST#")
    SK: Literal["METADATA"]
    artistId: ArtistId | None = None
    artistName: str = Field(min_length=1, max_length=200)
    instagramHandle: str | None = Field(default=None, max_length=100)
    studioName: str | None = Field(default=None, max_length=200)
    bio: str | None = Field(default=None, max_length=5000)
    styles: list[Annotated[str, StringConstraints(min_length=1, max_length=50)]] = []
    specialties: list[Annotated[str, StringConstraints(min_length=1, max_length=100)]] = []
    locationCity: str | None = Field(default=None, max_length=100)
    locationDisplay: str | None = Field(default=None, max_length=200)
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    geohash: str | None = Field(default=None, max_length=12)
    rating: float | None = Field(default=None, ge=0, le=5)
    reviewCount: NonNegativeInt = 0
    updatedAt: AwareDatetime | None = None

    _sort_sets = field_validator("styles", "specialties", mode="before")(_sorted_strings)

    @model_validator(mode="after")
    def _id_matches_key(self) -> ArtistItem:
        key_id = self.PK.removeprefix(ARTIST_PK_PREFIX)
        if self.artistId is not None and self.artistId != key_id:
            raise ValueError(f"artistId {self.artistId!r} does not match PK {self.PK!r}")
        return self

    @property
    def artist_id(self) -> str:
        return self.artistId or self.PK.removeprefix(ARTIST_PK_PREFIX)

    @property
    def city(self) -> str | None:
        if self.locationCity and self.locationCity.strip():
            return self.locationCity.strip()
        # Older items only have "City, Country".
        if self.locationDisplay and self.locationDisplay.split(",")[0].strip():
            return self.locationDisplay.split(",")[0].strip()
        return None

    def to_document(self) -> ArtistSearchDocument:
        city = self.city
        geo = None
        if self.latitude is not None and self.longitude is not None:
            geo = GeoPoint(lat=self.latitude, lon=self.longitude)
        return ArtistSearchDocument(
            artistId=self.artist_id,
            name=self.artistName.strip(),
            styles=sorted({k for s in self.styles if (k := normalize_key(s))}),
            specialties=sorted({s.strip() for s in self.specialties if s.strip()}),
            city=city,
            cityKey=normalize_key(city) if city else None,
            location=self.locationDisplay,
            geo=geo,
            **self.model_dump(include=_UNCHANGED_IN_DOCUMENT),
        )


class ArtistSearchDocument(BaseModel):
    """One document of the search index; its id is `artistId`."""

    model_config = ConfigDict(extra="forbid")

    artistId: ArtistId
    name: str = Field(min_length=1)
    styles: list[str] = Field(
        default=[], description="normalized style keys, the `style` filter's values"
    )
    specialties: list[str] = []
    city: str | None = None
    cityKey: str | None = Field(default=None, description="normalized city, the `city` filter")
    location: str | None = Field(default=None, description='as displayed, "City, Country"')
    studioName: str | None = None
    instagramHandle: str | None = None
    bio: str | None = None
    geo: GeoPoint | None = None
    geohash: str | None = None
    rating: float | None = Field(default=None, description="0 to 5")
    reviewCount: NonNegativeInt = 0
    updatedAt: AwareDatetime | None = None


def artist_document(image: dict[str, Any]) -> ArtistSearchDocument:
    """Transform a decoded METADATA item; raises pydantic's ValidationError naming the field."""
    return ArtistItem.model_validate(image).to_document()


# -- Stream records (the Pipe's batch) -----------------------------------------------------


class StreamChange(DynamoDBStreamChangedRecordModel):
    """`dynamodb` of a stream record, images decoded with boto3's TypeDeserializer."""

    SequenceNumber: str = Field(pattern=r"^\d{1,40}$")

    @field_validator("Keys", "NewImage", "OldImage", mode="before")
    @classmethod
    def deserialize_field(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            raise ValueError("expected a DynamoDB JSON map")
        return deserialize_image(value)

    @property
    def keys(self) -> dict[str, Any]:
        return self.Keys

    @property
    def new_image(self) -> dict[str, Any] | None:
        return self.NewImage if isinstance(self.NewImage, dict) else None

    @property
    def old_image(self) -> dict[str, Any] | None:
        return self.OldImage if isinstance(self.OldImage, dict) else None

    @property
    def sequence(self) -> int:
        return int(self.SequenceNumber)


class StreamRecord(DynamoDBStreamRecordModel):
    """One DynamoDB stream record as a Pipe delivers it."""

    dynamodb: StreamChange


class PrepareBatchInput(BaseModel):
    """PrepareBatch's payload: the Pipe's batch plus the execution id to log with."""

    correlationId: str = Field(min_length=1, description="the execution ARN")
    records: list[StreamRecord]


def collapse(records: list[StreamRecord]) -> dict[str, StreamRecord]:
    """The newest record (highest SequenceNumber) per artist; other item types are dropped.

    Stream order per item is SequenceNumber order, so only the last change decides what
    the index must hold: MODIFY then REMOVE of one artist leaves no document.
    """
    newest: dict[str, StreamRecord] = {}
    for record in records:
        artist_id = artist_id_from_keys(record.dynamodb.keys)
        if artist_id is None:
            continue
        current = newest.get(artist_id)
        if current is None or record.dynamodb.sequence >= current.dynamodb.sequence:
            newest[artist_id] = record
    return newest


# -- Task outputs ------------------------------------------------------------------------


class IndexChanges(BaseModel):
    """PrepareBatch -> ApplyToIndex: what the index must look like for these artists."""

    correlationId: str = Field(min_length=1)
    upserts: list[ArtistSearchDocument] = []
    deletes: list[ArtistId] = []
    operations: NonNegativeInt = Field(default=0, description="len(upserts) + len(deletes)")
    ignored: NonNegativeInt = Field(default=0, description="records for other item types")
    superseded: NonNegativeInt = Field(default=0, description="older records of the same artist")

    @model_validator(mode="after")
    def _one_operation_per_artist(self) -> IndexChanges:
        ids = [d.artistId for d in self.upserts] + list(self.deletes)
        if len(ids) != len(set(ids)):
            raise ValueError("an artist appears more than once in upserts/deletes")
        self.operations = len(ids)
        return self


class ApplyResult(BaseModel):
    correlationId: str
    upserted: NonNegativeInt
    deleted: NonNegativeInt
    notFound: NonNegativeInt = Field(description="deletes of documents that did not exist")


# -- The search API ------------------------------------------------------------------------


def _blank_to_none(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


class SearchQuery(BaseModel):
    """`GET /artists/search?q=&style=&city=&limit=`; at least one of q, style, city."""

    model_config = ConfigDict(extra="ignore")

    q: str | None = Field(default=None, max_length=MAX_QUERY_CHARS)
    style: str | None = Field(default=None, max_length=MAX_STYLE_CHARS)
    city: str | None = Field(default=None, max_length=MAX_CITY_CHARS)
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)

    _blanks = field_validator("q", "style", "city", mode="before")(_blank_to_none)

    @field_validator("style", "city")
    @classmethod
    def _has_key(cls, value: str | None) -> str | None:
        if value is not None and not normalize_key(value):
            raise ValueError("must contain a letter or digit")
        return value

    @model_validator(mode="after")
    def _something_to_search(self) -> SearchQuery:
        if self.q is None and self.style is None and self.city is None:
            raise ValueError("give at least one of q, style, city")
        return self


class SearchResult(BaseModel):
    score: float
    artist: ArtistSearchDocument


class SearchResponse(BaseModel):
    query: SearchQuery
    count: int
    results: list[SearchResult]
