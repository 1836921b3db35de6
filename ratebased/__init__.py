"""Rate-based biologically plausible learning rules in torch.

Backpropagation, feedback alignment (FA), direct feedback alignment (DFA), the sign-symmetry family
(uSF, frSF, brSF, optional batch-manhattan), as custom autograd Functions on ``nn.Linear`` and
``nn.Conv2d``; models (MLP with skip connections, LeNet, ResNet, the CIFAR ResNet-20/32/56);
alignment diagnostics; a training loop shared by every rule.

Examples
--------
>>> import torch, ratebased
>>> net = ratebased.MLP(784, (256, 256), 10)
>>> fa_net = ratebased.with_feedback(net, "fa", seed=0)
>>> ratebased.available_rules()[:3]
('bp', 'fa', 'dfa')
"""

import importlib as _importlib
import warnings as _warnings

#: public name -> submodule that defines it. Submodules are imported on first use, so that
#: ``import ratebased.registry`` (the registry mechanism the other packages share) or
#: ``ratebased.device`` does not pay for torch and every rule.
_EXPORTS = {
    "ACTIVATIONS": "activations",
    "Activation": "activations",
    "FEEDBACK_SPECS": "layer_swap",
    "check_finite": "layer_swap",
    "trainable_layers": "layer_swap",
    "true_gradient_view": "layer_swap",
    "with_feedback": "layer_swap",
    "LOSSES": "losses",
    "angle_deg": "diagnostics",
    "feedback_angles": "diagnostics",
    "gradient_alignment": "diagnostics",
    "MLP": "models",
    "MODELS": "models",
    "LeNet": "models",
    "ResNet": "models",
    "CifarResNet": "resnet_cifar",
    "build_model": "models",
    "Registry": "registry",
    "RULES": "rules",
    "Backprop": "rules",
    "FeedbackFamily": "rules",
    "LearningRule": "rules",
    "available_rules": "rules",
    "get_rule": "rules",
    "register_rule": "rules",
    "TrainConfig": "training",
    "evaluate": "training",
    "make_optimizer": "training",
    "make_scheduler": "training",
    "train_epoch": "training",
    "train_step": "training",
    "DifferenceTargetProp": "targetprop",
    "GaitProp": "targetprop",
    "inverse_reconstruction_error": "targetprop",
    "orthogonality_defect": "targetprop",
    "LocalErrors": "local",
    "resolve_device": "device",
}
#: modules whose import registers rules (``get_rule`` must see every rule of the package)
_RULE_MODULES = ("rules", "targetprop", "local")

__all__ = [
    "ACTIVATIONS",
    "Activation",
    "FEEDBACK_SPECS",
    "true_gradient_view",
    "check_finite",
    "with_feedback",
    "trainable_layers",
    "LOSSES",
    "angle_deg",
    "feedback_angles",
    "gradient_alignment",
    "MLP",
    "MODELS",
    "LeNet",
    "ResNet",
    "CifarResNet",
    "build_model",
    "Registry",
    "RULES",
    "Backprop",
    "FeedbackFamily",
    "LearningRule",
    "available_rules",
    "get_rule",
    "register_rule",
    "TrainConfig",
    "evaluate",
    "make_optimizer",
    "make_scheduler",
    "train_epoch",
    "train_step",
    "DifferenceTargetProp",
    "GaitProp",
    "inverse_reconstruction_error",
    "orthogonality_defect",
    "LocalErrors",
    "resolve_device",
]

#: Old names kept for one release: ``name -> (new name)``. Reading one warns.
_DEPRECATED = {"convert": "with_feedback", "backprop_twin": "true_gradient_view"}


def __getattr__(name: str):
    """Import the submodule of a public name on first use; resolve a deprecated name with a
    ``DeprecationWarning``.

    Examples
    --------
    >>> import warnings, ratebased
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     ratebased.backprop_twin is ratebased.true_gradient_view
    True
    >>> str(caught[0].message)
    'ratebased.backprop_twin is deprecated; use ratebased.true_gradient_view'
    """
    if name in _DEPRECATED:
        new = _DEPRECATED[name]
        _warnings.warn(f"ratebased.{name} is deprecated; use ratebased.{new}", DeprecationWarning, stacklevel=2)
        return __getattr__(new)
    if name in _EXPORTS:
        module = _importlib.import_module(f".{_EXPORTS[name]}", __name__)
        if _EXPORTS[name] == "rules":
            for extra in _RULE_MODULES:
                _importlib.import_module(f".{extra}", __name__)
        value = getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list:
    return sorted(set(globals()) | set(_EXPORTS))
