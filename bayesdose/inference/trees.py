"""Sampling results as ArviZ 1 objects: an :class:`xarray.DataTree` with one child per
group (``posterior``, ``sample_stats``, ``log_likelihood``, ``observed_data``,
``constant_data``, ``posterior_predictive``, ``prior``, ``prior_predictive``).

ArviZ (``az.summary``, ``az.loo``, ``az.plot_*``) takes such a tree directly. The read-outs
work on a group's :class:`xarray.Dataset`, which :func:`group` returns.
"""

from __future__ import annotations

import xarray as xr

from bayesdose.errors import DataError


def new_tree(**groups: xr.Dataset) -> xr.DataTree:
    """A tree with the given groups (``None`` values are left out).

    Parameters
    ----------
    **groups : xarray.Dataset
        The groups by name.

    Returns
    -------
    xarray.DataTree

    Examples
    --------
    >>> import xarray as xr
    >>> tree = new_tree(posterior=xr.Dataset({"mu": (("chain", "draw"), [[0.0, 1.0]])}))
    >>> list(tree.children)
    ['posterior']
    """
    return xr.DataTree.from_dict({name: dataset for name, dataset in groups.items()
                                  if dataset is not None})


def has_group(tree: xr.DataTree, name: str) -> bool:
    """Whether ``tree`` has the group ``name``.

    Parameters
    ----------
    tree : xarray.DataTree
        Sampling results.
    name : str
        A group's name.

    Returns
    -------
    bool

    Examples
    --------
    >>> import xarray as xr
    >>> has_group(new_tree(posterior=xr.Dataset()), "prior")
    False
    """
    return name in tree.children


def group(tree: xr.DataTree, name: str) -> xr.Dataset:
    """The group ``name`` of ``tree`` as a dataset (a shallow copy: changing its
    variables leaves the tree as it is).

    Parameters
    ----------
    tree : xarray.DataTree
        Sampling results.
    name : str
        A group's name.

    Returns
    -------
    xarray.Dataset

    Raises
    ------
    bayesdose.errors.DataError
        When the tree has no such group.

    Examples
    --------
    >>> import xarray as xr
    >>> tree = new_tree(posterior=xr.Dataset({"mu": (("chain", "draw"), [[0.0, 1.0]])}))
    >>> float(group(tree, "posterior")["mu"].mean())
    0.5
    >>> group(tree, "prior")
    Traceback (most recent call last):
    ...
    bayesdose.errors.DataError: the results have no 'prior' group (they have: posterior).
    """
    if not has_group(tree, name):
        raise DataError(f"the results have no {name!r} group (they have: "
                        f"{', '.join(tree.children) or 'none'}).")
    return tree[name].to_dataset()


def set_group(tree: xr.DataTree, name: str, dataset: xr.Dataset) -> None:
    """Put ``dataset`` in ``tree`` as the group ``name`` (replacing one of that name).

    Parameters
    ----------
    tree : xarray.DataTree
        Sampling results (changed in place).
    name : str
        The group's name.
    dataset : xarray.Dataset
        Its variables.

    Examples
    --------
    >>> import xarray as xr
    >>> tree = new_tree(posterior=xr.Dataset())
    >>> set_group(tree, "prior", xr.Dataset({"mu": ("draw", [0.0])}))
    >>> list(tree.children)
    ['posterior', 'prior']
    """
    if has_group(tree, name):
        del tree[name]
    tree[name] = xr.DataTree(dataset)


def drop_group(tree: xr.DataTree, name: str) -> None:
    """Remove the group ``name`` from ``tree`` when it has one.

    Parameters
    ----------
    tree : xarray.DataTree
        Sampling results (changed in place).
    name : str
        The group's name.

    Examples
    --------
    >>> import xarray as xr
    >>> tree = new_tree(posterior=xr.Dataset(), prior=xr.Dataset())
    >>> drop_group(tree, "prior"); drop_group(tree, "prior")
    >>> list(tree.children)
    ['posterior']
    """
    if has_group(tree, name):
        del tree[name]
