"""Model instances built straight from what a statement returned.

`CompiledSelect`: statements the API runs on every request, compiled by the ORM once per process (compiling
a queryset cost about as much CPU as the rest of a small read): the SQL, where each call's values go, how
each column is converted and which model it belongs to. Nothing is cached but the SQL: every call reads the
database. `json_rows`/`json_instances`: a model's rows aggregated as JSON in a correlated subquery, so that
a page loads them in its own statement rather than in a second one (a prefetch)."""

from __future__ import annotations

import functools
import re
from typing import Any, Generic, TypeVar

import orjson
from django.db import connections
from django.db.models import (
    Aggregate,
    BinaryField,
    DateField,
    DateTimeField,
    DecimalField,
    DurationField,
    F,
    JSONField,
    Model,
    QuerySet,
    Subquery,
    UUIDField,
)
from django.db.models.base import ModelState
from django.db.models.expressions import RawSQL
from django.db.models.fields.files import FileDescriptor
from django.db.models.fields.related_descriptors import ForeignKeyDeferredAttribute
from django.db.models.functions import JSONArray
from django.db.models.query_utils import DeferredAttribute
from django.db.models.signals import post_init, pre_init
from django.utils import timezone
from django.utils.dateparse import parse_datetime

M = TypeVar("M", bound=Model)


def joined_columns(name: str, relation: str, model: type[Model]) -> dict[str, F]:
    """Annotations that select every column of `model` through `relation` (a LEFT JOIN for a reverse
    foreign key), as f"{name}__{attname}": `CompiledSelect(..., joined={name: model})` builds them back."""
    return {f"{name}__{field.attname}": F(f"{relation}__{field.attname}") for field in model._meta.concrete_fields}


def statement_slot(name: str) -> RawSQL:
    """Stands for a subquery compiled on each call (`CompiledSelect(..., statements=[name])`), e.g. in
    `pk__in=statement_slot("ids")`."""
    return RawSQL(_statement_marker(name), ())


def _statement_marker(name: str) -> str:
    return f"SELECT NULL /* statement slot {name} */"


def _fast_converter(convert: Any) -> Any:
    """The ORM's converter, or for a JSONField's with no decoder the same faster (`_json_converter`)."""
    field = getattr(convert, "__self__", None)
    if isinstance(field, JSONField) and convert.__func__ is JSONField.from_db_value and field.decoder is None:
        return _json_converter(convert)
    return convert


def _slot_positions(params: list, slots: dict[str, Any]) -> list[tuple[int, str]]:
    """Where each slot's stand-in is in `params` (compared with its type: 1 is not True)."""
    found = [
        (position, name)
        for position, param in enumerate(params)
        for name, slot in slots.items()
        if type(param) is type(slot) and param == slot
    ]
    if {name for _, name in found} != set(slots):
        raise RuntimeError(f"the statement does not take every slot of {slots}: {params}")
    return found


def _filled(params: list, slots: list[tuple[int, str]], values: dict[str, Any]) -> list:
    """A copy of `params` with each slot's stand-in replaced by the value of its name."""
    params = params.copy()
    for position, name in slots:
        params[position] = values[name]
    return params


class CompiledStatement:
    """SQL and its parameters compiled once, with stand-ins (`slots`, values no row has) where each call's
    values go; `paging` (the ORM's LIMIT/OFFSET of a slice at `paging`'s marks, which it writes as
    literals) becomes parameters, so that one statement serves every page."""

    def __init__(self, sql: str, params: list | tuple, *, slots: dict[str, Any], paging: str = ""):
        self._params = list(params)
        self._slots = _slot_positions(self._params, slots)
        self._paged = bool(paging)
        if paging:
            if sql.count(paging) != 1 or not sql.endswith(paging):
                raise RuntimeError(f"the statement does not end with its slice {paging!r}: {sql}")
            sql = sql[: -len(paging)] + "LIMIT %s OFFSET %s"
        self.sql = sql

    def bind(self, *, limit: int | None = None, offset: int | None = None, **values: Any) -> tuple[str, list]:
        """The SQL and parameters with `values` in the slots of their names (and the page's limit and
        offset, when paged)."""
        params = _filled(self._params, self._slots, values)
        if self._paged:
            params += [limit, offset]
        return self.sql, params


def captured_statement(queryset: QuerySet, run: Any) -> tuple[str, list]:
    """The SQL and parameters the ORM sends for `run(queryset)` (e.g. `count()`), captured without sending
    them: for the statements the ORM builds as it runs them."""

    class Captured(Exception):
        pass

    found: list[tuple[str, list]] = []

    def capture(execute, sql, params, many, context):
        found.append((sql, list(params or ())))
        raise Captured

    with connections[queryset.db].execute_wrapper(capture):
        try:
            run(queryset)
        except Captured:
            pass
    if len(found) != 1:
        raise RuntimeError(f"expected one statement, the ORM sent {len(found)}")
    return found[0]


class CompiledSelect(Generic[M]):
    """A queryset's SELECT as the ORM compiles it, with stand-ins (`slots`, values no row has) where each
    call's values go, and (`statements`) where each call's subqueries go (`statement_slot`). `rows` returns
    the rows converted as the ORM converts them; `instance` builds the queryset's model (with its
    select_related models and annotations), `joined_instance` a model selected column by column with
    `joined_columns`."""

    def __init__(
        self,
        queryset: QuerySet[M],
        *,
        slots: dict[str, Any],
        joined: dict[str, type[Model]] | None = None,
        statements: tuple[str, ...] = (),
    ):
        self.alias = queryset.db
        compiler = queryset.query.get_compiler(using=self.alias)
        self.sql, params = compiler.as_sql()
        self._params = list(params)
        # (name, marker, the index in the parameters where the subquery's go), in the statement's order.
        self._statements: list[tuple[str, str, int]] = []
        for name in statements:
            marker = _statement_marker(name)
            if self.sql.count(marker) != 1 or "%%" in self.sql:
                raise RuntimeError(f"the statement does not take the subquery {name} where expected: {self.sql}")
            self._statements.append((name, marker, self.sql[: self.sql.index(marker)].count("%s")))
        self._statements.sort(key=lambda statement: statement[2])
        self._slots = _slot_positions(self._params, slots)
        select = [column for column, _, _ in compiler.select]
        self._converters = [
            (position, [_fast_converter(convert) for convert in converters], column)
            for position, (converters, column) in compiler.get_converters(select).items()
        ]
        info = compiler.klass_info
        self.model: type[M] = info["model"]
        self._own = self._columns(info, select)
        # The foreign key, its model and its columns, for each select_related model.
        self._related: list[tuple[Any, type[Model], tuple[list[str], int, int]]] = []
        for related in info.get("related_klass_infos", []):
            if related.get("related_klass_infos"):
                raise RuntimeError("only one level of select_related is built")
            self._related.append((related["field"], related["model"], self._columns(related, select)))
        joined = joined or {}
        self._joined = {
            name: (model, [f.attname for f in model._meta.concrete_fields]) for name, model in joined.items()
        }
        annotations = compiler.annotation_col_map
        self._joined_positions = {
            name: [annotations[f"{name}__{attname}"] for attname in attnames]
            for name, (_, attnames) in self._joined.items()
        }
        own = {position for positions in self._joined_positions.values() for position in positions}
        self._annotations = [(alias, position) for alias, position in annotations.items() if position not in own]

    def rows(self, **values: Any) -> list[list]:
        """The statement's rows with `values` in the slots of their names: a value, or for a statement slot
        the subquery's SQL and parameters (as `query.get_compiler(...).as_sql()` gives them)."""
        sql, params = self.sql, _filled(self._params, self._slots, values)
        for name, marker, index in reversed(self._statements):  # the last first: earlier indexes hold
            statement_sql, statement_params = values[name]
            sql = sql.replace(marker, statement_sql)
            params[index:index] = statement_params
        connection = connections[self.alias]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = [list(row) for row in cursor.fetchall()]
        for row in rows:  # what the ORM does to each column (SQLite's datetimes and booleans, JSON, ...)
            for position, converters, column in self._converters:
                value = row[position]
                for convert in converters:
                    value = convert(value, column, connection)
                row[position] = value
        return rows

    @staticmethod
    def _columns(info: dict, select: list) -> tuple[list[str], int, int]:
        positions = info["select_fields"]
        start, end = positions[0], positions[-1] + 1
        return [column.target.attname for column in select[start:end]], start, end

    def instance(self, row: list) -> M:
        """The queryset's model in the row, with its select_related models and its annotations set."""
        attnames, start, end = self._own
        obj = loaded_instance(self.model, self.alias, attnames, row[start:end])
        for field, model, (attnames, start, end) in self._related:
            values = row[start:end]
            related = None if values[0] is None else loaded_instance(model, self.alias, attnames, values)
            field.set_cached_value(obj, related)
        for alias, position in self._annotations:
            setattr(obj, alias, row[position])
        return obj

    def joined_instance(self, row: list, name: str) -> Model | None:
        """The model selected as `joined_columns(name, ...)` in the row, or None where the join found none."""
        model, attnames = self._joined[name]
        values = [row[position] for position in self._joined_positions[name]]
        return None if values[0] is None else loaded_instance(model, self.alias, attnames, values)


# Descriptors whose __set__ (if any) only puts the value in the instance's __dict__ on a new instance.
_PLAIN_DESCRIPTORS = (DeferredAttribute, FileDescriptor, ForeignKeyDeferredAttribute)


@functools.cache
def _plain_columns(model: type[Model], attnames: tuple[str, ...]) -> bool:
    """Whether `model(*values)` only puts `attnames` (every concrete field) in the instance's __dict__:
    Django's own __init__, __setattr__ and from_db, and no field's descriptor doing more than storing its
    value."""
    fields = model._meta.concrete_fields
    return (
        model.__init__ is Model.__init__
        and model.__setattr__ is object.__setattr__
        and getattr(model.from_db, "__func__", None) is Model.from_db.__func__  # type: ignore[attr-defined]
        and attnames == tuple(field.attname for field in fields)
        and all(type(model.__dict__.get(name)) in _PLAIN_DESCRIPTORS for name in attnames)
    )


def loaded_instance(model: type[M], alias: str, attnames: list[str], values: list) -> M:
    """`model.from_db(alias, attnames, values)`: for a model of plain columns (`_plain_columns`) and no
    pre_init/post_init receiver, its values go straight into the instance's __dict__, where __init__ would
    put them one setattr at a time (__init__'s walk over the fields was two thirds of building a page's
    instances)."""
    if not _plain_columns(model, tuple(attnames)) or pre_init.has_listeners(model) or post_init.has_listeners(model):
        return model.from_db(alias, attnames, values)
    obj = model.__new__(model)
    obj.__dict__.update(zip(attnames, values))
    state = obj._state = ModelState()
    state.adding, state.db = False, alias
    return obj


_LONG_DIGITS = re.compile(r"(?<![\d.])\d{19,}(?![\d.eE])")  # an integer's digits, not a float's


def _json_converter(convert: Any) -> Any:
    """A JSONField's from_db_value (no decoder) by orjson for text (a quarter of json's time for a page's
    readings), the ORM's own for the rest: what orjson refuses, and text with an integer of 19 digits or more
    (it may be beyond 64 bits: orjson reads those as floats, json as ints)."""

    def converted(value: Any, expression: Any, connection: Any) -> Any:
        if type(value) is str and not _LONG_DIGITS.search(value):
            try:
                return orjson.loads(value)
            except orjson.JSONDecodeError:
                pass
        return convert(value, expression, connection)

    return converted


class _JSONRows(Aggregate):
    """Rows aggregated into one JSON array: JSONB_AGG on PostgreSQL, JSON_GROUP_ARRAY on SQLite."""

    function = "JSON_GROUP_ARRAY"
    output_field = JSONField()

    def as_postgresql(self, compiler, connection, **extra_context):
        return self.as_sql(compiler, connection, function="JSONB_AGG", **extra_context)


# Columns whose JSON a model field would not take back as it is (json_instances reads datetimes only).
_NOT_AS_JSON = (BinaryField, DateField, DecimalField, DurationField, UUIDField)


def json_rows(queryset: QuerySet, *, per: str) -> Subquery:
    """A correlated subquery (filter `queryset` by an OuterRef on `per`): its rows, every column of its model,
    as one JSON array per value of `per`, NULL where there are none. `json_instances` builds them back."""
    fields = queryset.model._meta.concrete_fields
    unreadable = [f.attname for f in fields if isinstance(f, _NOT_AS_JSON) and not isinstance(f, DateTimeField)]
    if unreadable:
        raise TypeError(f"json_instances cannot read these columns back from JSON: {unreadable}")
    row = JSONArray(*[F(field.attname) for field in fields])  # the columns in the model's order
    rows = queryset.order_by().values(per).annotate(json_rows=_JSONRows(row)).values("json_rows")
    return Subquery(rows, output_field=JSONField())


def json_instances(model: type[M], rows: list[list] | None, *, using: str = "default") -> list[M]:
    """The instances of `model` in what `json_rows` selected (decoded). JSON gives numbers, strings, booleans
    and null as the columns hold them; datetimes come as text, read back in the connection's time zone
    when they carry none (SQLite's)."""
    if not rows:
        return []
    fields = model._meta.concrete_fields
    attnames = [field.attname for field in fields]
    datetimes = [position for position, field in enumerate(fields) if isinstance(field, DateTimeField)]
    zone = connections[using].timezone
    found = []
    for row in rows:
        values = list(row)
        for position in datetimes:
            if values[position] is not None:
                value = parse_datetime(values[position])
                if value is None:
                    raise ValueError(f"not a datetime in {model.__name__}: {values[position]!r}")
                values[position] = timezone.make_aware(value, zone) if timezone.is_naive(value) else value
        found.append(loaded_instance(model, using, attnames, values))
    return found
