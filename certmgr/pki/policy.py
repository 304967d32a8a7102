"""The valid policy tree of RFC 5280 §6.1 (steps 6.1.3 d-f, 6.1.4 a-b, 6.1.5 g).

The tree is stored by depth: `levels[d]` lists the nodes at depth d, each knowing the index
of its parent in `levels[d - 1]`. Operations return new trees, so a tree cached for a CA
chain can be extended per leaf without copying by hand. `None` is the NULL tree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

__all__ = ["ANY_POLICY", "PolicyNode", "PolicyTree", "initial_tree", "intersect", "map_policies",
           "process_policies"]

ANY_POLICY = "2.5.29.32.0"


@dataclass(frozen=True, slots=True)
class PolicyNode:
    policy: str
    expected: frozenset[str]
    parent: int


PolicyTree: TypeAlias = "tuple[tuple[PolicyNode, ...], ...]"


def initial_tree() -> PolicyTree:
    return ((PolicyNode(ANY_POLICY, frozenset({ANY_POLICY}), -1),),)


def _prune(levels: list[list[PolicyNode]]) -> PolicyTree | None:
    """Drop, bottom-up, every node above the deepest level that has no child (§6.1.3 d3)."""
    for depth in range(len(levels) - 1, 0, -1):
        kept_parents = sorted({n.parent for n in levels[depth]})
        remap = {old: new for new, old in enumerate(kept_parents)}
        levels[depth - 1] = [levels[depth - 1][i] for i in kept_parents]
        levels[depth] = [
            PolicyNode(n.policy, n.expected, remap[n.parent]) for n in levels[depth]
        ]
    if not levels[0] or not levels[-1]:
        return None
    return tuple(tuple(level) for level in levels)


def process_policies(
    tree: PolicyTree | None,
    policies: Iterable[str] | None,
    *,
    any_allowed: bool,
) -> PolicyTree | None:
    """§6.1.3 (d)-(e): extend the tree with one certificate's policies (None: no extension).

    `any_allowed` is "inhibit_anyPolicy > 0, or the certificate is self-issued and not last".
    """
    if tree is None or policies is None:
        return None
    cert_policies = list(dict.fromkeys(policies))
    last = tree[-1]
    new: list[PolicyNode] = []
    for pol in cert_policies:
        if pol == ANY_POLICY:
            continue
        matched = [i for i, n in enumerate(last) if pol in n.expected]
        if not matched:
            matched = [i for i, n in enumerate(last) if n.policy == ANY_POLICY]
        new.extend(PolicyNode(pol, frozenset({pol}), i) for i in matched)
    if ANY_POLICY in cert_policies and any_allowed:
        for i, node in enumerate(last):
            present = {n.policy for n in new if n.parent == i}
            new.extend(PolicyNode(exp, frozenset({exp}), i)
                       for exp in sorted(node.expected) if exp not in present)
    levels = [list(level) for level in tree]
    levels.append(new)
    return _prune(levels)


def map_policies(
    tree: PolicyTree | None, mappings: Mapping[str, frozenset[str]], *, mapping_allowed: bool
) -> PolicyTree | None:
    """§6.1.4 (b): apply a certificate's policyMappings (issuer policy -> subject policies)."""
    if tree is None or not mappings:
        return tree
    levels = [list(level) for level in tree]
    last = levels[-1]
    if not mapping_allowed:
        levels[-1] = [n for n in last if n.policy not in mappings]
        if len(levels) > 1 and not levels[-1]:
            return None
        return _prune(levels)
    out: list[PolicyNode] = []
    any_nodes = [n for n in last if n.policy == ANY_POLICY]
    for node in last:
        if node.policy in mappings:
            out.append(PolicyNode(node.policy, mappings[node.policy], node.parent))
        else:
            out.append(node)
    present = {n.policy for n in last}
    for issuer_pol, subject_pols in mappings.items():
        if issuer_pol not in present and any_nodes:
            parent = any_nodes[0].parent
            out.append(PolicyNode(issuer_pol, subject_pols, parent))
    levels[-1] = out
    return tuple(tuple(level) for level in levels)


def intersect(tree: PolicyTree | None, user_set: frozenset[str]) -> PolicyTree | None:
    """§6.1.5 (g): the intersection of the tree with the user-initial-policy-set."""
    if tree is None or ANY_POLICY in user_set:
        return tree
    depth = len(tree) - 1
    levels: list[list[PolicyNode]] = [list(tree[0])]
    index = {i: i for i in range(len(tree[0]))}
    # nodes whose parent is anyPolicy form the valid_policy_node_set: drop the ones outside
    # the user set, with their descendants (top-down, so children of dropped nodes go too)
    for d in range(1, depth + 1):
        out: list[PolicyNode] = []
        new_index: dict[int, int] = {}
        for i, node in enumerate(tree[d]):
            if node.parent not in index:
                continue
            under_any = tree[d - 1][node.parent].policy == ANY_POLICY
            if under_any and node.policy != ANY_POLICY and node.policy not in user_set:
                continue
            new_index[i] = len(out)
            out.append(PolicyNode(node.policy, node.expected, index[node.parent]))
        index = new_index
        levels.append(out)
    leaves = levels[depth]
    any_leaves = [n for n in leaves if n.policy == ANY_POLICY]
    if any_leaves:
        present = {n.policy for n in leaves}
        parent = any_leaves[0].parent
        extra = [PolicyNode(p, frozenset({p}), parent) for p in sorted(user_set - present)]
        levels[depth] = [n for n in leaves if n.policy != ANY_POLICY] + extra
    return _prune(levels)
