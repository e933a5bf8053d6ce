"""`RedisStore`: the store port on Redis, for short-lived flow state shared by many processes.

Layout, under one namespace (`mfa` by default) so several stores share a server:

- `{ns}:v` — the store-wide version counter (`INCR`); `{ns}:s` — the log sequence counter;
- `{ns}:d:{collection}:{digest}` — one string per document: `{version} {expires_at} ` and
  the JSON, deflated with a preset dictionary when that is shorter (Redis memory is the
  cost that grows with pending logins; see `DICTIONARY`). `digest` is the document key's
  128-bit BLAKE2b in URL-safe base64 (22 characters), so every key has the same short
  length however long the provider's keys are (an SMS code's key names the organization
  and the member: 84 characters); nothing reads a key back, so nothing needs the original;
- `{ns}:l:{log}` — a stream per log, entry IDs `{seq}-0`; `{ns}:m:{log}:{member}` — a sorted
  set of the member's sequence numbers, so one member's entries are found without a scan.

(`%` and `:` in collection and log names are escaped, so no two names share a key.)

Atomicity — compare-and-set, delete and append are Lua scripts: Redis runs each alone, so
reading the version and writing the new one cannot interleave with another client.

Expiry — the provider judges expiry by its own clock; Redis only gets a clean-up hint: a TTL
of `expires_at - wall clock + ttl_grace` (never less than `ttl_grace`, an hour by default),
so a record never vanishes before the provider would call it expired unless the provider's
clock runs more than `ttl_grace` behind this host's. `purge_expired(now)` also works, by the
provider's clock, with a `SCAN` of the namespace (housekeeping, not the hot path).

Units — Redis has no multi-key transaction that can span the provider's reads and writes,
so `unit()` groups nothing: each write commits on its own. Correctness does not rest on
units (every write is compare-and-set); what a crash mid-call can leave behind is a partly
done call, such as a flow advanced without its audit entry.

Requirements — the version counter must never be evicted or lost while documents survive:
run Redis with `maxmemory-policy noeviction` (or a `volatile-*` policy: the counters have no
TTL). Connection loss raises `StoreUnavailable`; redis-py retries on a fresh connection first,
which is safe for compare-and-set (a replayed write finds its own version and conflicts) and
can log an append twice if only its reply was lost.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.commands.core import Script
from redis.retry import Retry

from ._memory import check_append, check_delete, check_limit, check_put
from ._store import Conflict, Doc, LogEntry, StoreUnavailable

__all__ = ["RedisStore"]

_NAMESPACE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_OPTIONS = {"namespace": str, "ttl_grace": float, "timeout": float}

# A document is one string: "{version} {expires_at or -} " then "j" + JSON text, or "z" + the
# JSON deflated with DICTIONARY. Scripts read only the head (GETRANGE), never the payload.
_HEAD = 64

# KEYS: document, version counter. ARGV: expected version, body, expires_at or "-", ttl ms.
_PUT = """
local head = redis.call('GETRANGE', KEYS[1], 0, HEAD)
local current = string.match(head, '^(%d+) ') or '0'
if current ~= ARGV[1] then return 0 end
local version = redis.call('INCR', KEYS[2])
if version <= tonumber(current) then
  version = tonumber(current) + 1
  redis.call('SET', KEYS[2], version)
end
local value = version .. ' ' .. ARGV[3] .. ' ' .. ARGV[2]
if ARGV[4] == '0' then
  redis.call('SET', KEYS[1], value)
else
  redis.call('SET', KEYS[1], value, 'PX', ARGV[4])
end
return version
""".replace("HEAD", str(_HEAD - 1))

# KEYS: document. ARGV: expected version.
_DELETE = """
local head = redis.call('GETRANGE', KEYS[1], 0, HEAD)
if string.match(head, '^(%d+) ') ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])
""".replace("HEAD", str(_HEAD - 1))

# KEYS: log stream, member index or nothing, sequence counter. ARGV: at, data, member.
_APPEND = """
local seq = redis.call('INCR', KEYS[#KEYS])
if #KEYS == 3 then
  redis.call('XADD', KEYS[1], seq .. '-0', 'a', ARGV[1], 'd', ARGV[2], 'm', ARGV[3])
  redis.call('ZADD', KEYS[2], seq, seq)
else
  redis.call('XADD', KEYS[1], seq .. '-0', 'a', ARGV[1], 'd', ARGV[2])
end
return seq
"""

# KEYS: log stream, member index. ARGV: after, limit.
_READ_MEMBER = """
local seqs = redis.call('ZRANGE', KEYS[2], '(' .. ARGV[1], '+inf', 'BYSCORE', 'LIMIT', 0, ARGV[2])
local found = {}
for _, seq in ipairs(seqs) do
  local entry = redis.call('XRANGE', KEYS[1], seq .. '-0', seq .. '-0')
  if entry[1] then found[#found + 1] = entry[1] end
end
return found
"""

# KEYS: documents. ARGV: now. Deletes those whose expires_at is strictly before now.
_PURGE = """
local gone = 0
local now = tonumber(ARGV[1])
for _, key in ipairs(KEYS) do
  local e = string.match(redis.call('GETRANGE', key, 0, HEAD), '^%d+ (%S+) ')
  local at = e and tonumber(e)
  if at and at < now then gone = gone + redis.call('DEL', key) end
end
return gone
""".replace("HEAD", str(_HEAD - 1))

#: Strings the provider's short-lived records repeat, as a preset deflate dictionary: a flow
#: shrinks from ~590 bytes of JSON to ~180. Stored values depend on it: NEVER edit it; a new
#: dictionary needs a new payload tag next to "z".
DICTIONARY = (
    b'"intent":"login","enroll","unenroll","add_method","step_up","session_id":null,'
    b'"mfa_methods":"ALL_ALLOWED","RESTRICTED","org_methods":["sms_otp","totp"],'
    b'"allowed":["sms_otp","totp"],"breakglass":false,"mfa_enrolled":true,"phone":"+1",'
    b'"totp_id":"member-totp-","default_method":"totp","recovery_codes":0,'
    b'"session_second_factor":false,"unenroll_method":null,"failures":0,"verified":[],'
    b'"used":false,"code_hash":"","phone_number":"+1","sent_at":'
    b'{"organization_id":"organization-","member_id":"member-","flow_id":"flow-",'
    b'"consumed":false}{"flow_id":"flow-","state":"challenged","primary_done",'
    b'"enrolling_sms","enrolling_totp","authenticated","failed","organization_id":'
    b'"organization-","member_id":"member-","ist_id":"","started_at":"expires_at":'
    b'"mfa_policy":"OPTIONAL","REQUIRED_FOR_ALL","mfa_required":true,"method":"sms_otp",'
    b'"pending":"+1","pending_expires_at":"primary":[{"type":"password","magic_link",'
    b'"delivery_method":"knowledge","email","last_authenticated_at":'
)
_COMPRESS_FROM = 48  # bytes of JSON; shorter texts are stored as they are


def encode_body(data: str) -> bytes:
    """The payload: deflated with DICTIONARY when that is shorter, else the text."""
    raw = data.encode("utf-8")
    if len(raw) >= _COMPRESS_FROM:
        packer = zlib.compressobj(6, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, DICTIONARY)
        packed = packer.compress(raw) + packer.flush()
        if len(packed) < len(raw):
            return b"z" + packed
    return b"j" + raw


def decode_value(value: bytes) -> tuple[int, str]:
    """A stored value as (version, JSON text)."""
    version, _, rest = value.partition(b" ")
    _, _, body = rest.partition(b" ")
    if body[:1] == b"z":
        unpacker = zlib.decompressobj(-15, DICTIONARY)
        raw = unpacker.decompress(body[1:]) + unpacker.flush()
    else:
        raw = body[1:]
    return int(version), raw.decode("utf-8")


def key_digest(key: str) -> str:
    """A document key as 22 URL-safe characters (BLAKE2b, 128 bits)."""
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=16).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _escape(name: str) -> str:
    return name.replace("%", "%25").replace(":", "%3A")


def split_url(url: str) -> tuple[str, dict[str, Any]]:
    """Take this store's own options (`namespace`, `ttl_grace`, `timeout`) out of a
    `redis://` URL; the rest is redis-py's, passed through untouched."""
    parts = urlsplit(url)
    ours: dict[str, Any] = {}
    theirs = []
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name in _OPTIONS:
            try:
                ours[name] = _OPTIONS[name](value)
            except ValueError:
                raise ValueError(f"bad value for {name} in the Redis URL: {value!r}") from None
        else:
            theirs.append((name, value))
    return urlunsplit(parts._replace(query=urlencode(theirs))), ours


class RedisStore:
    """The store port on one Redis database, under a key namespace."""

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        namespace: str = "mfa",
        ttl_grace: float = 3600.0,
        timeout: float = 5.0,
    ) -> None:
        if not _NAMESPACE.fullmatch(namespace):
            raise ValueError(f"namespace must match {_NAMESPACE.pattern}, got {namespace!r}")
        if not ttl_grace > 0:
            raise ValueError("ttl_grace must be a positive number of seconds")
        self.namespace = namespace
        self._grace = ttl_grace
        self._closed = False
        self._redis: redis.Redis = redis.Redis.from_url(
            url,
            decode_responses=False,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            # One quick retry on a fresh connection covers a killed connection; a server
            # that is down fails the call within a second instead of redis-py's ~10 s.
            retry=Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.5), 2),
        )
        self._put: Script = self._redis.register_script(_PUT)
        self._delete: Script = self._redis.register_script(_DELETE)
        self._append: Script = self._redis.register_script(_APPEND)
        self._read_member: Script = self._redis.register_script(_READ_MEMBER)
        self._purge: Script = self._redis.register_script(_PURGE)
        try:
            with self._errors("open"):
                self._redis.ping()
        except BaseException:
            self.close()
            raise

    @classmethod
    def from_url(cls, url: str) -> RedisStore:
        """`redis://host:6379/0?namespace=mfa&ttl_grace=3600` (see `split_url`)."""
        plain, options = split_url(url)
        return cls(plain, **options)

    def _doc_key(self, collection: str, key: str) -> str:
        return f"{self.namespace}:d:{_escape(collection)}:{key_digest(key)}"

    def _log_keys(self, log: str, member_id: str | None) -> list[str]:
        stream = f"{self.namespace}:l:{_escape(log)}"
        if member_id is None:
            return [stream]
        return [stream, f"{self.namespace}:m:{_escape(log)}:{member_id}"]

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        if self._closed:
            raise StoreUnavailable("the store is closed")
        try:
            yield
        except redis.RedisError as exc:
            raise StoreUnavailable(f"{action} failed on Redis: {exc}") from exc

    @contextmanager
    def unit(self) -> Iterator[None]:
        """Groups nothing: each write on Redis commits on its own (see the module docstring)."""
        yield

    def get(self, collection: str, key: str) -> Doc | None:
        """The document, or None once deleted, purged or dropped by its TTL."""
        with self._errors("get"):
            value = cast("bytes | None", self._redis.get(self._doc_key(collection, key)))
        if value is None:
            return None
        version, data = decode_value(value)
        return Doc(data, version)

    def _ttl_ms(self, expires_at: float) -> int:
        """Wall-clock TTL with a grace period: a clean-up hint, never the expiry check."""
        return math.ceil((max(expires_at - time.time(), 0.0) + self._grace) * 1000)

    def put(
        self,
        collection: str,
        key: str,
        data: str,
        expected_version: int,
        expires_at: float | None = None,
    ) -> int:
        """Write when the stored version is `expected_version` (0 = absent): one script."""
        check_put(collection, key, data, expected_version)
        hint: list[str | int] = ["-", 0]
        if expires_at is not None:
            finite = math.isfinite(expires_at)
            hint = [repr(float(expires_at)), self._ttl_ms(expires_at) if finite else 0]
        with self._errors("put"):
            version = self._put(
                keys=[self._doc_key(collection, key), f"{self.namespace}:v"],
                args=[expected_version, encode_body(data), *hint],
            )
        if not version:
            raise Conflict(f"{collection}/{key}: not at version {expected_version}")
        return int(version)

    def delete(self, collection: str, key: str, expected_version: int) -> None:
        """Delete when the stored version is `expected_version`: one script."""
        check_delete(expected_version)
        with self._errors("delete"):
            gone = self._delete(keys=[self._doc_key(collection, key)], args=[expected_version])
        if not gone:
            raise Conflict(f"{collection}/{key}: not at version {expected_version}")

    def append(self, log: str, member_id: str | None, at: float, data: str) -> int:
        """Append; the sequence counter and the stream entry are written in one script."""
        check_append(log, member_id, data)
        keys = [*self._log_keys(log, member_id), f"{self.namespace}:s"]
        args = [repr(float(at)), data] + ([] if member_id is None else [member_id])
        with self._errors("append"):
            return int(self._append(keys=keys, args=args))

    def read_log(
        self, log: str, member_id: str | None = None, after: int = 0, limit: int = 1000
    ) -> list[LogEntry]:
        """Entries oldest first, optionally one member's, with `seq > after`."""
        check_limit(limit)
        if limit == 0:
            return []
        keys = self._log_keys(log, member_id)
        with self._errors("read_log"):
            if member_id is None:
                start = "-" if after <= 0 else f"({after}-0"
                entries = self._redis.xrange(keys[0], start, "+", count=limit)
            else:
                entries = self._read_member(keys=keys, args=[max(after, 0), limit])
        return [_entry(entry) for entry in cast("list[Any]", entries)]

    def purge_expired(self, now: float) -> int:
        """Drop documents whose `expires_at` is strictly before `now`, by a SCAN of the
        namespace in batches, each batch checked and deleted by one script."""
        gone = 0
        with self._errors("purge_expired"):
            batch: list[bytes] = []
            for key in self._redis.scan_iter(match=f"{self.namespace}:d:*", count=500):
                batch.append(key)
                if len(batch) == 500:
                    gone += int(self._purge(keys=batch, args=[repr(now)]))
                    batch = []
            if batch:
                gone += int(self._purge(keys=batch, args=[repr(now)]))
        return gone

    def close(self) -> None:
        """Disconnect the pool; later calls raise `StoreUnavailable`."""
        self._closed = True
        self._redis.close()


def _entry(raw: Any) -> LogEntry:
    """A stream entry (`[b"12-0", {b"a": ..., b"d": ..., b"m": ...}]`, or the flat field list
    a script returns) as a `LogEntry`."""
    entry_id, fields = raw
    if isinstance(fields, list):
        fields = dict(zip(fields[::2], fields[1::2], strict=True))
    member: bytes | None = fields.get(b"m")
    return LogEntry(
        int(entry_id.split(b"-")[0]),
        None if member is None else member.decode("utf-8"),
        float(fields[b"a"]),
        fields[b"d"].decode("utf-8"),
    )
