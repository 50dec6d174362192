"""protocol/wire: the words of each closed set, read both ways."""

from __future__ import annotations

import pytest

from birbctl.protocol.wire import Compression, Encoding


def test_a_member_is_its_word() -> None:
    assert [str(e) for e in Encoding] == ["json", "etf"]
    assert Compression("zstd-stream") is Compression.ZSTD_STREAM


def test_none_means_no_compression_for_python_callers_only() -> None:
    assert Compression.of(None) is Compression.NONE
    assert Compression.of("none") is Compression.NONE
    assert Compression.NONE.query_value is None
    assert Compression.ZLIB_STREAM.query_value == "zlib-stream"


@pytest.mark.parametrize("word", ["none", "gzip", "ZLIB-STREAM", ""])
def test_a_query_word_that_discord_does_not_know_is_refused(word: str) -> None:
    with pytest.raises(ValueError):
        Compression.from_query(word)


def test_no_query_word_is_no_compression() -> None:
    assert Compression.from_query(None) is Compression.NONE
    assert Compression.from_query("zlib-stream") is Compression.ZLIB_STREAM
