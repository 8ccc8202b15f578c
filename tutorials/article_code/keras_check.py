"""Read the article's Keras code (§5.2) without running it: Python's own parser and symbol tables.

Notebook 07 (erratum 5) uses these three functions; they are plain standard-library
code, kept here so the notebook shows what they find rather than how.

    layers_used(code)          the Keras layer names called as Layer(...)(x)
    undefined_names(code)      {scope: names used there but defined nowhere}
    concatenate_calls(code)    (number of positional inputs, source text) of each Concatenate()(...)
"""
from __future__ import annotations

import ast
import builtins
import symtable


def _layer_calls(tree):
    """Calls of the form Layer(...)(x): a call whose function is itself a call."""
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Call)]


def _layer_name(call) -> str:
    func = call.func.func
    return func.attr if isinstance(func, ast.Attribute) else func.id


def layers_used(code: str) -> list[str]:
    """Sorted names of the layers the code calls as Layer(...)(x) or keras.layers.Layer(...)(x)."""
    return sorted({_layer_name(c) for c in _layer_calls(ast.parse(code))})


def undefined_names(code: str) -> dict[str, list[str]]:
    """Names read in a scope (module or function) that are never assigned, imported or built in."""
    table = symtable.symtable(code, "article", "exec")
    defined = {s.get_name() for s in table.get_symbols() if s.is_assigned() or s.is_imported()}

    def missing(symbols):
        return sorted(s.get_name() for s in symbols
                      if s.get_name() not in defined and not hasattr(builtins, s.get_name())
                      and (s.is_global() or s.is_referenced()) and not s.is_parameter() and not s.is_assigned())

    found = {f"{child.get_name()}()": missing(child.get_symbols()) for child in table.get_children()}
    found["module level"] = missing(table.get_symbols())
    return {scope: names for scope, names in found.items() if names}


def concatenate_calls(code: str) -> list[tuple[int, str]]:
    """(positional inputs, source) of every Concatenate(...)(...) call."""
    return [(len(c.args), ast.get_source_segment(code, c)) for c in _layer_calls(ast.parse(code))
            if _layer_name(c) == "Concatenate"]
