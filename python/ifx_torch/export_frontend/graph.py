"""What the FX passes ask of an exported graph: is this argument a constant with that value, which
tensor is a get_attr, how often is a value used, may the fused ops take it, and does the program
write to it (the FX counterpart of csrc/passes/pattern_utils.h and refusals.h).

The graphs are those of ``ExportedProgram.module()`` after ``run_decompositions({})``: functional
ATen ops, weights and buffers as ``get_attr`` nodes (the "constants" of a frozen TorchScript graph),
Python numbers inline, and the program's writes to its inputs as ``aten.copy_(input, new_value)``
nodes at the end. One ``PassState`` per optimized graph carries what the passes share: the graph
module (to read and add constants), the options, the write analysis and the refusals.
"""
import math
import operator
from typing import Any, Dict, Iterable, List, Optional, Set

import torch
from torch import fx

aten = torch.ops.aten

# The dtypes the fused ops take (csrc/kernels/element_type.h).
FUSED_DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.float64)

REFUSAL_KEY = "ifx_unfused_reason"


def is_call(value: Any, *targets) -> bool:
    """True when ``value`` is a node calling one of ``targets`` (OpOverloads)."""
    return isinstance(value, fx.Node) and value.op == "call_function" and value.target in targets


def kind(node: fx.Node) -> str:
    """The node's operator as TorchScript names it ("aten::conv2d"), for reports and messages."""
    if node.op == "call_function":
        if isinstance(node.target, torch._ops.OpOverload):
            return node.target._schema.name
        return getattr(node.target, "__name__", str(node.target))
    if node.op == "output":
        return "the model's output"
    return node.op


def arguments(node: fx.Node) -> List[Any]:
    """Every schema argument of an ATen/ifx call in schema order, defaults filled in: export
    leaves out trailing defaults (conv2d(x, w, b, [1, 1], [1, 1]) has no dilation or groups)."""
    schema = node.target._schema
    values = []
    for index, argument in enumerate(schema.arguments):
        if not argument.kwarg_only and index < len(node.args):
            values.append(node.args[index])
        elif argument.name in node.kwargs:
            values.append(node.kwargs[argument.name])
        elif argument.has_default_value():
            values.append(argument.default_value)
        else:
            values.append(None)
    return values


def use_count(value: fx.Node) -> int:
    """How many operands refer to ``value``: ``a + a`` uses ``a`` twice (FX's ``users`` counts
    the add once; TorchScript's uses, which the refusal messages count, twice)."""
    count = 0
    for user in value.users:
        count += sum(1 for operand in _flat(user.args) + _flat(list(user.kwargs.values())) if operand is value)
    return count


def _flat(values) -> List[Any]:
    out = []
    for value in values:
        if isinstance(value, (list, tuple)):
            out.extend(_flat(value))
        else:
            out.append(value)
    return out


def operands(node: fx.Node) -> List[Any]:
    return _flat(node.args) + _flat(list(node.kwargs.values()))


def sole_user(value: fx.Node) -> Optional[fx.Node]:
    """The only user of ``value`` if it is used exactly once."""
    return next(iter(value.users)) if use_count(value) == 1 else None


def is_model_output(user: fx.Node) -> bool:
    return user.op == "output"


def describe_number(value: Any, state: "PassState") -> str:
    """A constant as a message shows it, as refusals.cpp writes it: ints as ints, floats as
    Python prints them (2.0, 0.1), None as None, anything else as "?"."""
    if value is None:
        return "None"
    if isinstance(value, bool):
        return "?"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, fx.Node):
        tensor = state.constant_tensor(value)
        if tensor is None or tensor.dim() != 0 or tensor.is_complex():
            return "?"
        if not tensor.is_floating_point():
            return str(int(tensor.item()))
        value = float(tensor.item())
    if not isinstance(value, float):
        return "?"
    text = "%.12g" % value
    return text if any(c in text for c in ".eni") else text + ".0"


class PassState:
    """The graph being optimized and what every pass reads from it besides its own pattern."""

    def __init__(self, gm: fx.GraphModule, fuse_aten_activations: bool = True):
        self.gm = gm
        self.graph = gm.graph
        self.fuse_aten_activations = fuse_aten_activations
        self._constant_count = 0
        self._analyse_writes()

    # --- constants ---------------------------------------------------------------------------

    def constant_tensor(self, value: Any) -> Optional[torch.Tensor]:
        """The tensor a get_attr node reads (a weight, buffer or lifted constant), else None."""
        if not isinstance(value, fx.Node):
            return None
        if value.op == "call_function" and value.target is aten.lift_fresh_copy.default:
            value = value.args[0]  # torch.tensor(3.) inside forward: a constant, copied
        if value.op != "get_attr":
            return None
        try:
            found = operator.attrgetter(value.target)(self.gm)
        except AttributeError:
            return None
        return found if isinstance(found, torch.Tensor) else None

    def constant_scalar(self, value: Any) -> Optional[float]:
        """A constant that acts as a scalar: an int / float, or a 0-dim float or integer tensor
        constant (min/max spell bounds with those). A tensor with dims is none: it would take
        part in type promotion."""
        if isinstance(value, bool):
            return None
        if isinstance(value, (int, float)):
            return float(value)
        tensor = self.constant_tensor(value)
        if tensor is None or tensor.dim() != 0 or tensor.dtype == torch.bool or tensor.is_complex():
            return None
        return float(tensor.item())

    def is_number(self, value: Any, expected: float) -> bool:
        number = self.constant_scalar(value)
        return number is not None and number == expected

    def add_constant(self, tensor: torch.Tensor, before: fx.Node) -> fx.Node:
        """A new constant (a folded weight) as a buffer of the graph module, read before ``before``."""
        while True:
            name = f"_ifx_constant_{self._constant_count}"
            self._constant_count += 1
            if not hasattr(self.gm, name):
                break
        tensor = tensor.detach()  # a constant: no autograd history back to the parameters it came from
        self.gm.register_buffer(name, tensor)
        with self.graph.inserting_before(before):
            node = self.graph.get_attr(name)
        node.meta["val"] = tensor
        return node

    def has_constant_weight_and_bias(self, layer_args: List[Any], weight_dim: int) -> bool:
        """A constant float weight of ``weight_dim`` dimensions and, as bias, none or a constant of
        the weight's dtype: what the fused layer ops take."""
        weight = self.constant_tensor(layer_args[1])
        if weight is None or weight.dim() != weight_dim or not weight.is_floating_point():
            return False
        if layer_args[2] is None:
            return True
        bias = self.constant_tensor(layer_args[2])
        return bias is not None and bias.dtype == weight.dtype

    # --- types -------------------------------------------------------------------------------

    def value_of(self, value: Any) -> Any:
        """What the graph records about ``value``: a (fake) tensor, a number, or None."""
        if not isinstance(value, fx.Node):
            return value
        if value.op == "get_attr":
            return self.constant_tensor(value)
        return value.meta.get("val")

    def has_supported_type(self, value: Any) -> bool:
        """A tensor of a dtype and device the fused ops take (CPU or CUDA); a node whose type the
        graph does not record passes, as in TorchScript."""
        if not isinstance(value, fx.Node):
            return False
        recorded = self.value_of(value)
        if recorded is None:
            return True
        if not isinstance(recorded, torch.Tensor):
            return False
        return recorded.dtype in FUSED_DTYPES and recorded.device.type in ("cpu", "cuda")

    # --- writes ------------------------------------------------------------------------------

    def renumber(self) -> None:
        """Program order of the nodes as the graph is now; each pass starts with it, so the nodes
        earlier passes inserted have a place too."""
        self.position: Dict[fx.Node, int] = {node: i for i, node in enumerate(self.graph.nodes)}

    def _analyse_writes(self) -> None:
        """Export functionalizes in-place ops. A write to an intermediate leaves nothing behind
        (the functional graph is exact), a write to an input stays as copy_(input, new value).
        Each such input and the values written into it form one alias class: TorchScript's alias
        analysis sees them as one tensor that something writes to."""
        self.renumber()
        self._aliases: Dict[fx.Node, Set[fx.Node]] = {}
        self._writes: Dict[fx.Node, List[fx.Node]] = {}  # alias class member -> the values written
        for node in self.graph.nodes:
            if not is_call(node, aten.copy_.default):
                continue
            destination, source = node.args[0], node.args[1]
            if not isinstance(destination, fx.Node) or destination.op != "placeholder":
                continue
            members = self._aliases.setdefault(destination, {destination})
            if isinstance(source, fx.Node):
                members.add(source)
                self._writes.setdefault(destination, []).append(source)
        for destination, members in list(self._aliases.items()):
            for member in members:
                self._aliases[member] = members
                self._writes[member] = self._writes.get(destination, [])

    def is_written(self, value: Any) -> bool:
        """Whether the program writes to ``value`` (an input it mutates, or a value written into one)."""
        return isinstance(value, fx.Node) and value in self._aliases

    def aliases(self, value: fx.Node) -> Set[fx.Node]:
        return self._aliases.get(value, {value})

    def written_between(self, first: fx.Node, last: fx.Node, values: Iterable[Any]) -> bool:
        """Whether a write to any of ``values`` happens strictly between ``first`` and ``last`` in
        program order (the functional op that computes the written value sits where the in-place
        op was)."""
        start, end = self.position.get(first), self.position.get(last)
        if start is None or end is None:
            return False
        for value in values:
            for written in self._writes.get(value, []) if isinstance(value, fx.Node) else []:
                where = self.position.get(written)
                if where is not None and start < where < end:
                    return True
        return False

    # --- refusals and clean-up -----------------------------------------------------------------

    def refuse(self, node: fx.Node, reason: str) -> None:
        """Why a pass left ``node`` alone. It rides on the node, so it leaves the graph with a node
        that a later pass fuses, and a later pass's reason replaces an earlier one."""
        node.meta[REFUSAL_KEY] = reason

    def take_refusals(self) -> List[List[str]]:
        refusals = []
        for node in self.graph.nodes:
            reason = node.meta.pop(REFUSAL_KEY, None)
            if reason is not None:
                refusals.append([kind(node), reason])
        return refusals

    def erase_dead(self, nodes: Iterable[fx.Node]) -> None:
        """Removes the given nodes once nothing uses them (consumers first), leaving the rest of
        the graph, including its impure nodes, as it is."""
        pending = [node for node in nodes if node.graph is self.graph]
        erased: Set[fx.Node] = set()
        changed = True
        while changed:
            changed = False
            for node in pending:
                if node in erased or node.users or node.op in ("placeholder", "output"):
                    continue
                self.graph.erase_node(node)
                erased.add(node)
                changed = True


def nodes_calling(graph: fx.Graph, *targets) -> List[fx.Node]:
    return [node for node in graph.nodes if is_call(node, *targets)]


def op_histogram(graph: fx.Graph) -> Dict[str, int]:
    """The aten and ifx calls of the graph counted by operator, as OpHistogram counts TorchScript's."""
    histogram: Dict[str, int] = {}
    for node in graph.nodes:
        if node.op == "call_function" and isinstance(node.target, torch._ops.OpOverload):
            name = node.target._schema.name
            if name.startswith(("aten::", "ifx::")):
                histogram[name] = histogram.get(name, 0) + 1
    return dict(sorted(histogram.items()))


def is_one_sixth(state: PassState, value: Any) -> bool:
    """1/6 as written in a model: the double or the float32 nearest to it, within 2^-24 relative
    (half a float32 step). 0.1666667 is 2e-7 off and a near-miss."""
    number = state.constant_scalar(value)
    return number is not None and abs(number * 6.0 - 1.0) <= math.ldexp(1.0, -24)
