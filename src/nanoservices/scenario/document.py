"""Scenario text to plain data: YAML (safe_load semantics) or JSON, every failure one located line.

The YAML loader is PyYAML's SafeLoader with two refusals a scenario never needs: aliases
(`*name`, which can make a tiny file expand into a huge one) and duplicate keys (which YAML
would silently resolve to the last one, hiding a typo'd second `at:`).
"""

from __future__ import annotations

import json
from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError

from nanoservices.problems import InputError, Problem


class _Loader(yaml.SafeLoader):
    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise ComposerError(None, None, "aliases (*name) are not allowed here; write the value out", mark)
        return super().compose_node(parent, index)

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, yaml.MappingNode):
            seen: dict[tuple[str, str], Any] = {}
            for key_node, _ in node.value:
                if isinstance(key_node, yaml.ScalarNode):
                    key = (key_node.tag, key_node.value)
                    if key in seen:
                        raise ConstructorError(
                            None,
                            None,
                            f"duplicate key {key_node.value!r} (first on line {seen[key].line + 1}); "
                            "keep one",
                            key_node.start_mark,
                        )
                    seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep)


def parse_document(text: bytes | str, source: str, json_only: bool = False) -> Any:
    """The data in a scenario file; `json_only` for .json files, whose errors JSON reports better."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InputError(
                [Problem(source, "", f"not UTF-8 text (byte {exc.start}); a scenario is text")]
            ) from None
    if not text.strip():
        raise InputError([Problem(source, "", "empty file; a scenario is a mapping with a timeline: list")])
    try:
        return (
            _json(text, source) if json_only else yaml.load(text, Loader=_Loader)
        )  # _Loader is a SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1} column {mark.column + 1}" if mark else ""
        detail = exc.problem or exc.context or "cannot parse"
        raise InputError([Problem(source, where, f"malformed YAML: {_one_line(detail)}")]) from None
    except yaml.YAMLError as exc:
        raise InputError([Problem(source, "", f"malformed YAML: {_one_line(str(exc))}")]) from None
    except RecursionError:
        raise InputError([Problem(source, "", "nested too deeply; check for unbalanced brackets")]) from None


def reader_of(text: bytes | str, json_only: bool) -> str:
    """Which reader parse_document uses for this text, for `validate --verbose`: JSON is also YAML,
    so JSON text in a .yaml file is read (the same) by the YAML reader."""
    if json_only:
        return "read by the JSON reader (a .json file)"
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return "read by the YAML reader"
    return "read by the YAML reader; the text is JSON, which YAML reads the same"


def _json(text: str, source: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            [Problem(source, f"line {exc.lineno} column {exc.colno}", f"malformed JSON: {exc.msg}")]
        ) from None


def _one_line(text: str) -> str:
    return " ".join(text.split())
