"""Jinja2 templates in the config, compiled once at validation and kept with their source.

A `Template` is the source text (a `str`, so it dumps and compares as one) carrying the compiled
template in `.compiled`; sinks render that object and never compile again.
"""

from __future__ import annotations

from typing import Any

import jinja2
from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

from app.core.render import compile_template


class Template(str):
    """Template source, checked (syntax, filters, variable names) now, not at 3 a.m."""

    compiled: jinja2.Template
    html: bool = False

    @classmethod
    def compile(cls, source: str) -> Template:
        out = cls(source)
        out.compiled = compile_template(source, html=cls.html)
        return out

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(
            cls.compile,
            core_schema.str_schema(),
            serialization=core_schema.plain_serializer_function_ser_schema(str),
        )


class HtmlTemplate(Template):
    """A template whose output is HTML: variables are autoescaped."""

    html = True


class TextTemplate(Template):
    """A template whose output is plain text (or Slack mrkdwn)."""
