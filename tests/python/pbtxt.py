"""A strict reader of protobuf text format for the part of Triton's ModelConfig that
ifx_torch.export_triton writes: it rejects unknown fields, wrong types, a singular field
given twice and anything the grammar does not allow, so a config that passes here is one
Triton's own parser takes (field names and types as in Triton's model_config.proto)."""
import re

DATA_TYPES = {"TYPE_BOOL", "TYPE_UINT8", "TYPE_UINT16", "TYPE_UINT32", "TYPE_UINT64", "TYPE_INT8", "TYPE_INT16",
              "TYPE_INT32", "TYPE_INT64", "TYPE_FP16", "TYPE_FP32", "TYPE_FP64", "TYPE_STRING", "TYPE_BF16"}
INSTANCE_KINDS = {"KIND_AUTO", "KIND_GPU", "KIND_CPU", "KIND_MODEL"}
# message -> field -> (type, repeated); a type is "string", "int", a set of enum names, or a message
SCHEMA = {
    "ModelConfig": {"name": ("string", False), "platform": ("string", False), "backend": ("string", False),
                    "max_batch_size": ("int", False), "input": ("ModelInput", True),
                    "output": ("ModelOutput", True), "instance_group": ("ModelInstanceGroup", True)},
    "ModelInput": {"name": ("string", False), "data_type": (DATA_TYPES, False), "dims": ("int", True)},
    "ModelOutput": {"name": ("string", False), "data_type": (DATA_TYPES, False), "dims": ("int", True)},
    "ModelInstanceGroup": {"name": ("string", False), "count": ("int", False), "kind": (INSTANCE_KINDS, False),
                           "gpus": ("int", True)},
}
TOKEN = re.compile(r'\s*(?:(#[^\n]*)|("(?:[^"\\]|\\.)*")|(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)|([A-Za-z_]\w*)|([:{}\[\],]))')


class ParseError(ValueError):
    pass


def tokenize(text):
    tokens, position = [], 0
    text = text.rstrip()
    while position < len(text):
        match = TOKEN.match(text, position)
        if not match or match.end() == position:
            raise ParseError(f"unexpected character at offset {position}: {text[position:position + 20]!r}")
        position = match.end()
        comment, string, number, ident, punct = match.groups()
        if comment is None:
            tokens.append(("string", string[1:-1]) if string else ("number", number) if number
                          else ("ident", ident) if ident else ("punct", punct))
    return tokens


class _Reader:
    def __init__(self, tokens):
        self.tokens, self.i = tokens, 0

    def peek(self):
        return self.tokens[self.i] if self.i < len(self.tokens) else (None, None)

    def take(self, kind=None, value=None):
        token = self.peek()
        if token[0] is None or (kind and token[0] != kind) or (value and token[1] != value):
            raise ParseError(f"expected {value or kind}, found {token[1]!r} (token {self.i})")
        self.i += 1
        return token

    def message(self, type_name, closing=None):
        fields = SCHEMA[type_name]
        result = {}
        while self.peek()[1] != closing:
            _, field = self.take("ident")
            if field not in fields:
                raise ParseError(f"{type_name} has no field '{field}'")
            field_type, repeated = fields[field]
            values = self.field_values(field_type)
            if len(values) > 1 and not repeated:
                raise ParseError(f"{type_name}.{field} is not repeated but has {len(values)} values")
            if field in result and not repeated:
                raise ParseError(f"{type_name}.{field} given twice")
            result.setdefault(field, []).extend(values)
        return {k: (v if fields[k][1] else v[0]) for k, v in result.items()}

    def field_values(self, field_type):
        is_message = isinstance(field_type, str) and field_type in SCHEMA
        if self.peek()[1] == ":":
            self.take("punct", ":")
        elif not is_message:
            raise ParseError(f"expected ':' after a scalar field, found {self.peek()[1]!r}")
        if self.peek()[1] == "[":
            self.take("punct", "[")
            values = []
            while self.peek()[1] != "]":
                values.append(self.value(field_type))
                if self.peek()[1] == ",":
                    self.take("punct", ",")
                elif self.peek()[1] != "]":
                    raise ParseError(f"expected ',' or ']' in a list, found {self.peek()[1]!r}")
            self.take("punct", "]")
            return values
        return [self.value(field_type)]

    def value(self, field_type):
        if isinstance(field_type, str) and field_type in SCHEMA:
            self.take("punct", "{")
            inner = self.message(field_type, closing="}")
            self.take("punct", "}")
            return inner
        kind, text = self.take()
        if field_type == "string" and kind == "string":
            return text
        if field_type == "int" and kind == "number" and re.fullmatch(r"-?\d+", text):
            return int(text)
        if isinstance(field_type, set) and kind == "ident" and text in field_type:
            return text
        raise ParseError(f"value {text!r} does not fit a field of type {field_type if isinstance(field_type, str) else 'enum'}")


def parse_model_config(text):
    """The config as nested dicts and lists; ParseError on anything Triton would refuse to read."""
    reader = _Reader(tokenize(text))
    config = reader.message("ModelConfig")
    if reader.peek()[0] is not None:
        raise ParseError(f"unexpected {reader.peek()[1]!r} after the config")
    return config


def parse_with_triton_schema(text):
    """The config parsed by protobuf's own text-format parser against Triton's ModelConfig message
    (tritonclient ships it as tritonclient/grpc/model_config_pb2.py), as a message. Loaded from the
    file, so tritonclient's grpc extras (grpcio) need not be installed. Skips the calling test when
    tritonclient or protobuf is missing, except on CI (CI=true), where scripts/install_deps.sh
    installs both."""
    import importlib.util
    import os

    import pytest

    spec = importlib.util.find_spec("tritonclient")
    path = os.path.join(list(spec.submodule_search_locations)[0], "grpc", "model_config_pb2.py") if spec else ""
    try:
        from google.protobuf import text_format
        if not os.path.exists(path):
            raise ImportError("tritonclient's model_config_pb2.py not found")
        module_spec = importlib.util.spec_from_file_location("_triton_model_config_pb2", path)
        schema = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(schema)
    except Exception as error:  # missing, or a protobuf runtime too old for the generated code
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"Triton's config schema is not installed (pip install --no-deps tritonclient; protobuf): {error}")
    return text_format.Parse(text, schema.ModelConfig())
