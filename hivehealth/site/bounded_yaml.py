"""The site's YAML files (persistents.yml, inventory/hive.yml, the waivers file) read as data, with
bounds: a file larger than MAX_BYTES is not read, and a document whose aliases expand to more
than MAX_VALUES values (a few lines of `&a [*a, *a, ...]` nested can stand for billions, and
anything that walks them, a message quoting a value included, would never finish) or that
refers to itself is refused, naming the line of the alias. Aliases within the bounds load as
PyYAML loads them.
"""
from __future__ import annotations

import yaml

MAX_BYTES = 1 << 20          # the largest site file hive-builder writes is a few KiB
MAX_VALUES = 100_000         # values of the document with every alias expanded


class YamlLimitError(yaml.YAMLError):
    """A document beyond the bounds; `problem` says which, `problem_mark` where."""

    def __init__(self, problem: str, mark=None):
        super().__init__(problem)
        self.problem = problem
        self.problem_mark = mark

    @property
    def line(self) -> int | None:
        return self.problem_mark.line + 1 if self.problem_mark is not None else None


def check_size(data: bytes | str):
    if len(data) > MAX_BYTES:
        raise YamlLimitError(f"larger than {MAX_BYTES} bytes, more than a site file holds; not read")


def read_bytes(path) -> bytes:
    """The file's bytes, never more than MAX_BYTES + 1 of them read (YamlLimitError beyond)."""
    with open(path, "rb") as f:
        data = f.read(MAX_BYTES + 1)
    check_size(data)
    return data


def _children(node):
    if isinstance(node, yaml.SequenceNode):
        return node.value
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return ()


def check_expanded(root, limit: int = MAX_VALUES):
    """Count the values of the node graph as if every alias were written out (each shared node
    once per place it is used), without writing anything out: linear in the nodes composed."""
    sizes: dict[int, int] = {}
    in_progress: set[int] = set()     # the nodes on the current path from the root
    stack = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            in_progress.discard(key)
            sizes[key] = min(limit + 1, 1 + sum(sizes[id(c)] for c in _children(node)))
            if sizes[key] > limit:
                raise YamlLimitError(f"its aliases expand to more than {limit} values (an alias bomb?); "
                                     f"not read", node.start_mark)
            continue
        if key in sizes:
            continue
        in_progress.add(key)
        stack.append((node, True))
        for child in _children(node):
            if id(child) in in_progress:
                raise YamlLimitError("an alias refers to a value that contains it; not read", child.start_mark)
            if id(child) not in sizes:
                stack.append((child, False))


class BoundedLoader(yaml.SafeLoader):
    """SafeLoader within the bounds above."""

    def __init__(self, stream):
        if isinstance(stream, (str, bytes)):
            check_size(stream)
        super().__init__(stream)

    def get_single_node(self):
        try:
            node = super().get_single_node()
        except RecursionError:
            raise YamlLimitError("values nested too deeply; not read") from None
        if node is not None:
            check_expanded(node)
        return node

    def construct_document(self, node):
        try:
            return super().construct_document(node)
        except RecursionError:
            raise YamlLimitError("values nested too deeply; not read", node.start_mark) from None
