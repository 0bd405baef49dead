"""Input and output schemas of functions, and argument validation against them.

Two ways to describe a function's input:

- the guide's compact ``parameters=`` form, ``{"order_id": {"type": "string", "required": True}}``
  (or a complete JSON Schema object), validated with ``jsonschema``;
- the function's signature: type hints, defaults, ``Annotated``/``Field`` descriptions, ``Literal``
  enums, pydantic models, docstring ``Args:`` sections — compiled into a pydantic model that both
  produces the JSON Schema and validates (and converts) arguments.

Every validation failure is reported as a list of :class:`~plati_mcp.errors.FieldProblem`, one per
bad field, so the caller (often a model) can fix all of them at once.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, cast, get_args, get_origin, get_type_hints

import jsonschema
import pydantic
from pydantic import BaseModel, ConfigDict, TypeAdapter
from pydantic.fields import FieldInfo

from .errors import DefinitionError, FieldProblem

JSON_TYPES = frozenset({"string", "number", "integer", "boolean", "array", "object", "null"})
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")
_ARGS_SECTION_RE = re.compile(r"^\s*(Args|Arguments|Parameters|Params):\s*$")
_SECTION_RE = re.compile(r"^\s*[A-Z][A-Za-z ]*:\s*$")
_ARG_LINE_RE = re.compile(r"^\s*(\*{0,2}\w+)\s*(\([^)]*\))?\s*:\s*(.*)$")


def check_function_name(name: str) -> None:
    """Refuse names that model providers or MCP clients would reject.

    Raises:
        DefinitionError: the name is not 1-64 characters of letters, digits, ``_`` or ``-``
            starting with a letter or ``_``.
    """
    if not _NAME_RE.match(name):
        raise DefinitionError(
            f"Function name {name!r} is not valid: use 1-64 letters, digits, '_' or '-', starting with a "
            "letter or '_' (model providers reject other names), e.g. 'check_order_status'."
        )


def split_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """Return the description part of a docstring and the per-argument descriptions of its Args section."""
    if not doc:
        return "", {}
    lines = inspect.cleandoc(doc).splitlines()
    description: list[str] = []
    args: dict[str, str] = {}
    section: str | None = None
    current: str | None = None
    for line in lines:
        if _ARGS_SECTION_RE.match(line):
            section, current = "args", None
            continue
        if _SECTION_RE.match(line) and not line.startswith(" "):
            section, current = "other", None
            continue
        if section is None:
            description.append(line)
        elif section == "args":
            match = _ARG_LINE_RE.match(line)
            if match and (len(line) - len(line.lstrip())) <= 4:
                current = match.group(1).lstrip("*")
                args[current] = match.group(3).strip()
            elif current and line.strip():
                args[current] = f"{args[current]} {line.strip()}".strip()
    return "\n".join(description).strip(), args


def _strip_titles(schema: Any) -> Any:
    """Drop pydantic's generated ``title`` keys: they add tokens for the model and say nothing new."""
    if isinstance(schema, dict):
        cleaned: dict[str, Any] = {}
        for key, value in schema.items():
            if key == "title" and isinstance(value, str):
                continue
            if key == "properties" and isinstance(value, dict):
                cleaned[key] = {name: _strip_titles(sub) for name, sub in value.items()}
            else:
                cleaned[key] = _strip_titles(value)
        return cleaned
    if isinstance(schema, list):
        return [_strip_titles(item) for item in schema]
    return schema


def _problems_from_pydantic(error: pydantic.ValidationError) -> list[FieldProblem]:
    problems = []
    for item in error.errors(include_url=False, include_input=False):
        field = ".".join(str(part) for part in item["loc"])
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "Unexpected argument"
        problems.append(FieldProblem(field=field, message=message))
    return problems


class ArgumentsModel:
    """Validates arguments for a function built from its signature (a pydantic model)."""

    def __init__(self, model: type[BaseModel], field_names: tuple[str, ...]) -> None:
        self.model = model
        self.field_names = field_names

    def validate(self, arguments: Mapping[str, Any]) -> tuple[dict[str, Any], list[FieldProblem]]:
        try:
            instance = self.model.model_validate(arguments)
        except pydantic.ValidationError as exc:
            return {}, _problems_from_pydantic(exc)
        # Attribute access keeps nested pydantic models as objects, which is what the function expects.
        values = {name: getattr(instance, name) for name in self.field_names}
        # Optional arguments the caller left out keep the function's own default.
        for name in self.field_names:
            if name not in arguments and name not in instance.model_fields_set:
                values.pop(name)
        return values, []

    def json_schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = _strip_titles(self.model.model_json_schema())
        schema.setdefault("properties", {})
        return schema


@dataclass(frozen=True)
class SignatureInfo:
    """What the decorator learned from a function's signature."""

    arguments: ArgumentsModel
    context_param: str | None
    accepts_var_kwargs: bool
    description: str
    return_annotation: Any  # inspect.Signature.empty when not declared


def _is_context_annotation(annotation: Any, context_type: type) -> bool:
    if annotation is context_type:
        return True
    origin = get_origin(annotation)
    if origin is Annotated:
        return _is_context_annotation(get_args(annotation)[0], context_type)
    if origin is not None:  # Optional[Context] / Context | None
        return any(arg is context_type for arg in get_args(annotation))
    return False


def inspect_signature(
    fn: Callable[..., Any],
    function_name: str,
    context_type: type,
    localns: Mapping[str, Any] | None = None,
) -> SignatureInfo:
    """Compile a function's signature into an arguments model.

    Raises:
        DefinitionError: ``*args``, positional-only parameters, or a type pydantic cannot describe.
    """
    signature = inspect.signature(fn)
    try:
        # localns: the namespace where the function was decorated, so types defined inside a
        # function body resolve under `from __future__ import annotations` too.
        hints = get_type_hints(fn, localns=dict(localns) if localns else None, include_extras=True)
    except Exception as exc:  # a NameError/TypeError from a forward reference nobody can resolve
        raise DefinitionError(
            f"Function {function_name!r}: its type hints cannot be resolved ({exc}); import the types "
            "they name at module level."
        ) from exc
    description, arg_docs = split_docstring(inspect.getdoc(fn))
    fields: dict[str, Any] = {}
    context_param: str | None = None
    var_kwargs = False
    for param in signature.parameters.values():
        annotation = hints.get(param.name, param.annotation)
        if param.kind is inspect.Parameter.VAR_POSITIONAL:
            raise DefinitionError(
                f"Function {function_name!r} takes *{param.name}: callers pass named arguments only, "
                "so declare each argument by name."
            )
        if param.kind is inspect.Parameter.POSITIONAL_ONLY:
            raise DefinitionError(
                f"Function {function_name!r}: argument {param.name!r} is positional-only; remove the '/' "
                "so it can be passed by name."
            )
        if param.kind is inspect.Parameter.VAR_KEYWORD:
            var_kwargs = True
            continue
        if annotation is not inspect.Parameter.empty and _is_context_annotation(annotation, context_type):
            context_param = param.name
            continue
        if annotation is inspect.Parameter.empty:
            annotation = Any
        default = ... if param.default is inspect.Parameter.empty else param.default
        doc = arg_docs.get(param.name)
        if doc and _annotated_has_description(annotation):
            doc = None
        if isinstance(default, FieldInfo):
            field = default
            if doc and field.description is None:
                field = FieldInfo.merge_field_infos(field, pydantic.Field(description=doc))
        elif doc:
            field = pydantic.Field(default=default, description=doc)
        else:
            field = pydantic.Field(default=default)
        fields[param.name] = (annotation, field)
    try:
        model = pydantic.create_model(
            f"{function_name}_arguments",
            __config__=ConfigDict(extra="forbid", arbitrary_types_allowed=False),
            **fields,
        )
        model.model_json_schema()
    except (pydantic.PydanticSchemaGenerationError, pydantic.PydanticUserError, TypeError) as exc:
        bad = _find_bad_field(fields)
        where = f"argument {bad!r}" if bad else "an argument"
        raise DefinitionError(
            f"Function {function_name!r}: {where} has a type that cannot be described as JSON Schema "
            f"({exc.__class__.__name__}); use JSON-friendly types (str, int, float, bool, list, dict, "
            "Literal, pydantic models, TypedDict)."
        ) from exc
    return SignatureInfo(
        arguments=ArgumentsModel(model, tuple(fields)),
        context_param=context_param,
        accepts_var_kwargs=var_kwargs,
        description=description,
        return_annotation=hints.get("return", signature.return_annotation),
    )


def _annotated_has_description(annotation: Any) -> bool:
    if get_origin(annotation) is Annotated:
        return any(isinstance(meta, FieldInfo) and meta.description for meta in get_args(annotation)[1:])
    return False


def _find_bad_field(fields: Mapping[str, Any]) -> str | None:
    for name, (annotation, _field) in fields.items():
        try:
            TypeAdapter(annotation).json_schema()
        except Exception:  # any failure marks this field as the culprit; the caller raises DefinitionError
            return name
    return None


class SchemaValidator:
    """Validates arguments against an explicit JSON Schema (the ``parameters=`` form)."""

    def __init__(self, schema: dict[str, Any], function_name: str) -> None:
        try:
            validator_cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
            validator_cls.check_schema(schema)
        except jsonschema.SchemaError as exc:
            raise DefinitionError(
                f"Function {function_name!r}: parameters are not a valid JSON Schema: {exc.message}"
            ) from exc
        self._validator = validator_cls(schema)

    def validate(self, arguments: Mapping[str, Any]) -> list[FieldProblem]:
        problems: list[FieldProblem] = []
        for error in sorted(self._validator.iter_errors(arguments), key=lambda e: list(e.absolute_path)):
            path = [str(part) for part in error.absolute_path]
            if error.validator == "required" and isinstance(error.instance, dict):
                for missing in cast(list[str], error.validator_value):
                    if missing not in error.instance:
                        problems.append(FieldProblem(".".join([*path, missing]), "Field required"))
                continue
            if error.validator == "additionalProperties" and isinstance(error.instance, dict):
                allowed = error.schema.get("properties", {}) if isinstance(error.schema, dict) else {}
                for extra in error.instance:
                    if extra not in allowed:
                        problems.append(FieldProblem(".".join([*path, extra]), "Unexpected argument"))
                continue
            problems.append(FieldProblem(".".join(path), error.message))
        return problems


def compact_to_json_schema(parameters: Mapping[str, Any], function_name: str) -> dict[str, Any]:
    """Turn the guide's compact ``parameters=`` form into a JSON Schema object.

    A value that is already a complete object schema (``{"type": "object", "properties": ...}``)
    is taken as is.

    Raises:
        DefinitionError: a parameter is not a mapping, or names an unknown JSON type.
    """
    if parameters.get("type") == "object" and isinstance(parameters.get("properties"), Mapping):
        return dict(parameters)
    properties: dict[str, Any] = {}
    required: list[str] = []
    for name, spec in parameters.items():
        if not isinstance(spec, Mapping):
            raise DefinitionError(
                f"Function {function_name!r}: parameter {name!r} must be a JSON Schema mapping such as "
                f'{{"type": "string", "required": True}}, not {type(spec).__name__}.'
            )
        prop = {key: value for key, value in spec.items() if key != "required"}
        declared = prop.get("type")
        kinds = declared if isinstance(declared, list) else [declared] if declared is not None else []
        for kind in kinds:
            if kind not in JSON_TYPES:
                raise DefinitionError(
                    f"Function {function_name!r}: parameter {name!r} has type {kind!r}; use one of "
                    f"{', '.join(sorted(JSON_TYPES))}."
                )
        if spec.get("required") is True:
            required.append(name)
        properties[name] = prop
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


@dataclass(frozen=True)
class OutputSpec:
    """How a declared return type is checked and shown: its schema and whether MCP wraps it."""

    adapter: TypeAdapter[Any]
    schema: dict[str, Any]
    wrapped: bool  # a non-object return value travels as {"result": value} in structuredContent

    def dump(self, value: Any) -> Any:
        checked = self.adapter.validate_python(value, from_attributes=True)
        return self.adapter.dump_python(checked, mode="json")


def output_spec(return_annotation: Any, function_name: str) -> OutputSpec | None:
    """Build the output schema of a declared return type, or None when nothing useful is declared.

    Raises:
        DefinitionError: the return type cannot be described as JSON Schema.
    """
    if return_annotation in (inspect.Signature.empty, None, type(None), Any):
        return None
    try:
        adapter: TypeAdapter[Any] = TypeAdapter(return_annotation)
        schema = _strip_titles(adapter.json_schema(mode="serialization"))
    except (pydantic.PydanticSchemaGenerationError, pydantic.PydanticUserError, TypeError) as exc:
        raise DefinitionError(
            f"Function {function_name!r}: its return type {return_annotation!r} cannot be described as "
            "JSON Schema; return JSON-friendly types or a pydantic model, or drop the annotation."
        ) from exc
    if schema.get("type") == "object":
        return OutputSpec(adapter, schema, wrapped=False)
    # $defs must sit at the root of the wrapper for the inner $refs to resolve.
    defs = schema.pop("$defs", None)
    wrapped: dict[str, Any] = {"type": "object", "properties": {"result": schema}, "required": ["result"]}
    if defs is not None:
        wrapped["$defs"] = defs
    return OutputSpec(adapter, wrapped, wrapped=True)
