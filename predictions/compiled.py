"""Statements the API runs on every request, compiled by the ORM once per process (compiling a queryset cost
about as much CPU as the rest of a small read): the SQL, where each call's values go, how each column is
converted and which model it belongs to. Nothing is cached but the SQL: every call reads the database."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from django.db import connections
from django.db.models import F, Model, QuerySet

M = TypeVar("M", bound=Model)


def joined_columns(name: str, relation: str, model: type[Model]) -> dict[str, F]:
    """Annotations that select every column of `model` through `relation` (a LEFT JOIN for a reverse
    foreign key), as f"{name}__{attname}": `CompiledSelect(..., joined={name: model})` builds them back."""
    return {f"{name}__{field.attname}": F(f"{relation}__{field.attname}") for field in model._meta.concrete_fields}


class CompiledSelect(Generic[M]):
    """A queryset's SELECT as the ORM compiles it, with stand-ins (`slots`, values no row has) where each
    call's values go. `rows` returns the rows converted as the ORM converts them; `instance` builds the
    queryset's model (with its select_related models and annotations), `joined_instance` a model selected
    column by column with `joined_columns`."""

    def __init__(self, queryset: QuerySet[M], *, slots: dict[str, Any], joined: dict[str, type[Model]] | None = None):
        self.alias = queryset.db
        compiler = queryset.query.get_compiler(using=self.alias)
        self.sql, params = compiler.as_sql()
        self._params = list(params)
        self._slots = [
            (position, name)
            for position, param in enumerate(self._params)
            for name, slot in slots.items()
            if type(param) is type(slot) and param == slot
        ]
        if {name for _, name in self._slots} != set(slots):
            raise RuntimeError(f"the statement does not take every slot of {slots}: {params}")
        select = [column for column, _, _ in compiler.select]
        self._converters = [
            (position, converters, column) for position, (converters, column) in compiler.get_converters(select).items()
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
        """The statement's rows with `values` in the slots of their names."""
        params = self._params.copy()
        for position, name in self._slots:
            params[position] = values[name]
        connection = connections[self.alias]
        with connection.cursor() as cursor:
            cursor.execute(self.sql, params)
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
        obj = self.model.from_db(self.alias, attnames, row[start:end])
        for field, model, (attnames, start, end) in self._related:
            values = row[start:end]
            field.set_cached_value(obj, None if values[0] is None else model.from_db(self.alias, attnames, values))
        for alias, position in self._annotations:
            setattr(obj, alias, row[position])
        return obj

    def joined_instance(self, row: list, name: str) -> Model | None:
        """The model selected as `joined_columns(name, ...)` in the row, or None where the join found none."""
        model, attnames = self._joined[name]
        values = [row[position] for position in self._joined_positions[name]]
        return None if values[0] is None else model.from_db(self.alias, attnames, values)
