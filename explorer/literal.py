"""Text that may hold what a user typed, shown as it is: never as markdown or HTML, never unbounded.

Streamlit renders the text of st.error, st.info, st.caption and friends as markdown: a key in a shared link
such as `[log in](http://phish)` or `![](http://tracker/pixel)` would otherwise become a live link or a remote
image inside the app's own error box. Every ASCII punctuation mark is backslash-escaped (CommonMark allows
it for all of them), so links, images, emphasis, headings, HTML and Streamlit's `:color[...]` and shortcodes read
as the characters typed. GitHub-flavoured markdown also links bare addresses (`http://…`, `www.…`, `a@b.c`)
whatever their escapes: an invisible word joiner after the scheme, the `www` and the `@` keeps them plain text.
"""

from __future__ import annotations

import re
import string
import unicodedata

MAX_MESSAGE_CHARS = 2000
_ESCAPE = {ord(c): "\\" + c for c in string.punctuation}
_WORD_JOINER = "\u2060"
_AUTOLINK = re.compile(r"(?i)\b(https?|ftp|mailto|xmpp|www)(?=[:.])|@")
_INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})  # controls, bidi overrides, lone surrogates


def printable(text: str, max_chars: int = MAX_MESSAGE_CHARS) -> str:
    """Control, format and unpaired surrogate characters replaced by U+FFFD (line breaks kept), cut short."""
    if len(text) > max_chars:
        text = text[: max_chars - 1] + "…"
    return "".join(c if c in "\n\t" or unicodedata.category(c) not in _INVISIBLE else "\ufffd" for c in text)


def markdown_literal(text: str, max_chars: int = MAX_MESSAGE_CHARS) -> str:
    """`text` for a Streamlit markdown element, shown exactly as written (after `printable`)."""
    unlinked = _AUTOLINK.sub(lambda found: found[0] + _WORD_JOINER, printable(text, max_chars))
    return unlinked.translate(_ESCAPE).replace("\n", "  \n")
