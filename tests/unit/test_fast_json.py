"""orjson on the hot paths must read and write exactly what the standard library would, and fall back
to it for what orjson refuses (integers past 64 bits), never fail on them."""

from __future__ import annotations

import json

import psycopg.types.json

from plumbing import fast_json


def test_loads_matches_the_standard_library_and_accepts_bytes_and_memoryviews() -> None:
    text = '{"a": [1, 2.5, "Ännä", null, true], "b": {"c": "\\u2028"}}'
    assert fast_json.loads(text) == json.loads(text)
    assert fast_json.loads(memoryview(text.encode())) == json.loads(text)


def test_integers_past_64_bits_fall_back_to_the_standard_library() -> None:
    big = 2**70
    assert fast_json.loads(f"[{big}]") == [big]
    assert fast_json.dumps_sorted({"b": big, "a": 1}) == f'{{"a":1,"b":{big}}}'.encode()
    assert json.loads(fast_json.dumps({"n": big})) == {"n": big}


def test_invalid_json_is_still_an_error() -> None:
    try:
        fast_json.loads("{not json")
    except ValueError:
        return
    raise AssertionError("invalid JSON was accepted")


def test_the_event_store_makes_psycopg_parse_json_with_it() -> None:
    import plumbing.eventstore.postgres  # noqa: F401  (installs on import)

    # set_json_loads without a context sets the default of every json/jsonb loader class
    assert psycopg.types.json._JsonLoader._loads is fast_json.loads
