"""The architecture in a URL: compact JSON, deflated, base64url. Decoding is capped and goes through the parser."""

from __future__ import annotations

import base64
import binascii
import json
import zlib

from explorer.spec import DEFAULT_LIMITS, Architecture, Limits, SpecError, architecture_to_dict, parse_architecture

# Streamlit's server refuses query values over ~128 KB and proxies cut far shorter; real stacks need < 1 KB.
MAX_LINK_CHARS = 8_000
DAMAGED = "the link is damaged: its architecture cannot be decoded (was it cut short?)"


def encode(arch: Architecture) -> str:
    compact = json.dumps(architecture_to_dict(arch), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(zlib.compress(compact, 9)).decode().rstrip("=")


def decode(text: str, limits: Limits = DEFAULT_LIMITS) -> Architecture:
    if len(text) > MAX_LINK_CHARS:
        raise SpecError([f"the link's architecture is {len(text):,} characters, more than {MAX_LINK_CHARS:,}"])
    try:
        packed = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        inflater = zlib.decompressobj()
        # Never inflate past the file-size cap: a small link must not expand into a huge one.
        raw = inflater.decompress(packed, limits.max_file_bytes + 1)
    except (binascii.Error, ValueError, zlib.error):
        raise SpecError([DAMAGED]) from None
    if not inflater.eof and not inflater.unconsumed_tail:
        raise SpecError([DAMAGED])
    if inflater.unconsumed_tail:
        raise SpecError([f"the link's architecture inflates past the limit of {limits.max_file_bytes:,} bytes"])
    return parse_architecture(raw, limits, what="the link's architecture")
