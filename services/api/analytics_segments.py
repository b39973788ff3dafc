"""The segment filter language: parsed with a real grammar (lark, LALR), checked against a fixed list of
fields and functions, and compiled to parameterised SQL. Nothing of the text is ever evaluated or
pasted into SQL: field names select prewritten SQL fragments, values become query parameters.

    bought_within_days(90) and lifetime_value.EUR > 500
    prefers("chat") or (car_brand = "Volvo" and has_children = true)
    not bought("SKU-1") and inbound.chat >= 3

Fields: ``purchase_count``, ``days_since_purchase``, ``days_since_contact``, ``lifetime_value.<CUR>``,
``inbound.<channel>`` (numbers); ``preferred_channel``, ``car_brand``, ``language`` (text);
``has_children``, ``consent_email``, ``consent_sms`` (true/false). Functions: ``bought(item)``,
``bought_within_days(n)``, ``contacted_within_days(n)``, ``prefers(channel)``. A condition on a value the
customer does not have (no purchase, no known car) is false, and ``not`` of it true.

Traits come from the analytics projection (``analytics_traits`` as ``t``), profile fields from the
customer card (``customer_cards`` as ``c``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import LarkError, VisitError
from psycopg import sql

MAX_FILTER_LENGTH = 1000
MAX_DIGITS, MAX_DECIMALS = 15, 6
#: The longest look-back of ``bought_within_days`` / ``contacted_within_days``: a century.
MAX_DAYS = 36_600
Op = Literal["=", "!=", "<", "<=", ">", ">="]
Value = Decimal | str | bool

_GRAMMAR = r"""
?start: expr
?expr: and_expr
     | expr "or" and_expr          -> any_
?and_expr: not_expr
     | and_expr "and" not_expr     -> all_
?not_expr: "not" not_expr          -> not_
     | atom
?atom: PATH OP value               -> compare
     | PATH "(" [value ("," value)*] ")" -> call
     | "(" expr ")"
?value: ESCAPED_STRING             -> string
     | SIGNED_NUMBER               -> number
     | "true"                      -> true
     | "false"                     -> false
PATH: /[a-z_][a-z0-9_]*(\.[A-Za-z0-9_]+)?/
OP: "<=" | ">=" | "!=" | "=" | "<" | ">"
%import common.ESCAPED_STRING
%import common.SIGNED_NUMBER
%import common.WS
%ignore WS
"""
_PARSER = Lark(_GRAMMAR, parser="lalr")


class FilterError(ValueError):
    """A filter that does not parse, or names a field, function or operator that does not exist."""


@dataclass(frozen=True)
class Compare:
    field: str
    op: Op
    value: Value


@dataclass(frozen=True)
class Call:
    function: str
    args: tuple[Value, ...]


@dataclass(frozen=True)
class All:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class AnyOf:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    item: Node


Node = Compare | Call | All | AnyOf | Not


@v_args(inline=True)
class _ToTree(Transformer[Token, Node]):
    def string(self, token: Token) -> str:
        return str(token)[1:-1].replace('\\"', '"').replace("\\\\", "\\")

    def number(self, token: Token) -> Decimal:
        return _in_range(str(token))

    def true(self) -> bool:
        return True

    def false(self) -> bool:
        return False

    def compare(self, path: Token, op: Token, value: Value) -> Compare:
        return _checked(Compare(str(path), op.value, value))

    def call(self, name: Token, *args: Value | None) -> Call:
        return _checked_call(Call(str(name), tuple(a for a in args if a is not None)))

    def all_(self, left: Node, right: Node) -> All:
        return All((*(left.items if isinstance(left, All) else (left,)), right))

    def any_(self, left: Node, right: Node) -> AnyOf:
        return AnyOf((*(left.items if isinstance(left, AnyOf) else (left,)), right))

    def not_(self, item: Node) -> Not:
        return Not(item)


def _in_range(text: str) -> Decimal:
    """The number ``text``, when SQL can hold it: less than 10^15 in size and at most 6 decimals (a
    saved filter is run on every segment listing: it must not overflow there)."""
    value = Decimal(text)
    _, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # the grammar reads no NaN or infinity
    zeros = len(digits) - len("".join(map(str, digits)).rstrip("0"))
    if not value.is_zero() and (value.adjusted() >= MAX_DIGITS or -(exponent + zeros) > MAX_DECIMALS):
        raise FilterError(
            f"number {text} is out of range: numbers have at most {MAX_DIGITS} digits before"
            f" the point and {MAX_DECIMALS} after it"
        )
    return Decimal(0) if value.is_zero() else value


def parse_filter(text: str) -> Node:
    """The checked tree of a filter; :class:`FilterError` with a readable reason otherwise."""
    if len(text) > MAX_FILTER_LENGTH:
        raise FilterError(f"a filter has at most {MAX_FILTER_LENGTH} characters")
    try:
        tree = _PARSER.parse(text)
        node = _ToTree().transform(tree)
    except VisitError as exc:
        if isinstance(exc.orig_exc, FilterError):
            raise exc.orig_exc from None
        raise FilterError(str(exc.orig_exc)) from None
    except LarkError as exc:
        raise FilterError(f"not a filter: {str(exc).splitlines()[0]}") from None
    if not isinstance(node, Compare | Call | All | AnyOf | Not):
        raise FilterError("a filter is a condition, not a bare value")
    return node


# --- fields and functions -------------------------------------------------------------------------

Kind = Literal["number", "text", "bool"]
Fragment = Callable[[str | None, sql.Composable], sql.Composable]
_KEY = re.compile(r"^[A-Za-z0-9_]{1,64}$")


def _days_since(column: str) -> Fragment:
    def fragment(_: str | None, now: sql.Composable) -> sql.Composable:
        return sql.SQL("(EXTRACT(EPOCH FROM ({} - {})) / 86400)").format(now, sql.SQL(column))

    return fragment


def _const(text: str) -> Fragment:
    return lambda _key, _now: sql.SQL(text)


def _keyed(template: str) -> Fragment:
    return lambda key, _now: sql.SQL(template).format(sql.Literal(key))


_CHILDREN = "c.card -> 'profile' -> 'children'"
#: name -> (kind, needs a ``.key``, SQL of the value).
FIELDS: dict[str, tuple[Kind, bool, Fragment]] = {
    "purchase_count": ("number", False, _const("t.purchase_count")),
    "days_since_purchase": ("number", False, _days_since("t.last_purchase_at")),
    "days_since_contact": ("number", False, _days_since("t.last_contact_at")),
    "lifetime_value": ("number", True, _keyed("(t.traits -> 'lifetime_value' ->> {})::numeric")),
    "inbound": ("number", True, _keyed("coalesce((t.traits -> 'inbound_by_channel' ->> {})::int, 0)")),
    "preferred_channel": ("text", False, _const("(t.traits ->> 'preferred_channel')")),
    "car_brand": ("text", False, _const("(c.card -> 'profile' -> 'car' ->> 'brand')")),
    "language": ("text", False, _const("(c.card -> 'profile' ->> 'language')")),
    "has_children": (
        "bool",
        False,
        _const(
            f"(CASE WHEN jsonb_typeof({_CHILDREN}) = 'array' THEN jsonb_array_length({_CHILDREN}) > 0 END)"
        ),
    ),
    "consent_email": ("bool", False, _const("(c.card -> 'profile' -> 'consent_email' = 'true'::jsonb)")),
    "consent_sms": ("bool", False, _const("(c.card -> 'profile' -> 'consent_sms' = 'true'::jsonb)")),
}
#: function -> the kinds of its arguments.
FUNCTIONS: dict[str, tuple[Kind, ...]] = {
    "bought": ("text",),
    "bought_within_days": ("number",),
    "contacted_within_days": ("number",),
    "prefers": ("text",),
}
_TEXT_OPS = frozenset({"=", "!="})


def _kind_of(value: Value) -> Kind:
    if isinstance(value, bool):
        return "bool"
    return "number" if isinstance(value, Decimal) else "text"


def _checked(node: Compare) -> Compare:
    name, _, key = node.field.partition(".")
    if name not in FIELDS:
        raise FilterError(f"unknown field {name!r}; fields: {', '.join(sorted(FIELDS))}")
    kind, keyed, _ = FIELDS[name]
    if keyed != bool(key) or (key and not _KEY.match(key)):
        raise FilterError(f"field {name} {'needs a .key' if keyed else 'takes no .key'}")
    if _kind_of(node.value) != kind:
        raise FilterError(f"{node.field} is a {kind} field; compare it with a {kind}")
    if kind != "number" and node.op not in _TEXT_OPS:
        raise FilterError(f"{node.field} can only be compared with = or !=")
    return node


def _checked_call(node: Call) -> Call:
    kinds = FUNCTIONS.get(node.function)
    if kinds is None:
        raise FilterError(f"unknown function {node.function!r}; functions: {', '.join(sorted(FUNCTIONS))}")
    if tuple(map(_kind_of, node.args)) != kinds:
        raise FilterError(f"{node.function} takes ({', '.join(kinds)})")
    if node.function.endswith("_within_days"):
        days = node.args[0]
        if not (isinstance(days, Decimal) and days == days.to_integral_value() and 0 <= days <= MAX_DAYS):
            raise FilterError(
                f"{node.function}({days}): {days} is out of range (a whole number of days, 0 to {MAX_DAYS})"
            )
    return node


# --- SQL ------------------------------------------------------------------------------------------


class _Params:
    """Collects the values of one compiled filter as named parameters ``f0, f1, ...``."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def add(self, value: Any) -> sql.Placeholder:
        name = f"f{len(self.values)}"
        self.values[name] = value
        return sql.Placeholder(name)


def _call_sql(node: Call, now: sql.Composable, params: _Params) -> sql.Composable:
    arg = node.args[0]
    if node.function == "bought":
        return sql.SQL("(t.traits -> 'items') ? {}").format(params.add(arg))
    if node.function == "prefers":
        return sql.SQL("(t.traits ->> 'preferred_channel') = {}").format(params.add(arg))
    column = "t.last_purchase_at" if node.function == "bought_within_days" else "t.last_contact_at"
    return sql.SQL("{} >= {} - make_interval(days => {}::int)").format(sql.SQL(column), now, params.add(arg))


def _node_sql(node: Node, now: sql.Composable, params: _Params) -> sql.Composable:
    if isinstance(node, All | AnyOf):
        joiner = sql.SQL(" AND " if isinstance(node, All) else " OR ")
        return sql.SQL("({})").format(joiner.join(_node_sql(item, now, params) for item in node.items))
    if isinstance(node, Not):
        return sql.SQL("(NOT {})").format(_node_sql(node.item, now, params))
    if isinstance(node, Call):
        return sql.SQL("coalesce({}, false)").format(_call_sql(node, now, params))
    name, _, key = node.field.partition(".")
    _, _, fragment = FIELDS[name]
    value = fragment(key or None, now)
    return sql.SQL("coalesce({} {} {}, false)").format(value, sql.SQL(node.op), params.add(node.value))


def filter_sql(node: Node, now: sql.Composable) -> tuple[sql.Composable, dict[str, Any]]:
    """The WHERE condition of ``node`` over ``analytics_traits t`` and ``customer_cards c`` (LEFT JOIN),
    at the time ``now`` (a placeholder or a column), and its parameters."""
    params = _Params()
    return _node_sql(node, now, params), params.values
