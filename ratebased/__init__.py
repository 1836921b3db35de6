"""Rate-based biologically plausible learning rules in torch.

Backpropagation, feedback alignment (FA), direct feedback alignment (DFA), the sign-symmetry family
(uSF, frSF, brSF, optional batch-manhattan), as custom autograd Functions on ``nn.Linear`` and
``nn.Conv2d``; models (MLP with skip connections, LeNet, ResNet); alignment diagnostics; a training
loop shared by every rule.

Examples
--------
>>> import torch, ratebased
>>> net = ratebased.MLP(784, (256, 256), 10)
>>> fa_net = ratebased.convert(net, "fa", seed=0)
>>> ratebased.available_rules()[:3]
('bp', 'fa', 'dfa')
"""
from .activations import ACTIVATIONS, Activation
from .convert import FEEDBACK_SPECS, backprop_twin, check_finite, convert, trainable_layers
from .diagnostics import angle_deg, feedback_angles, gradient_alignment
from .models import MLP, MODELS, LeNet, ResNet, build_model
from .registry import Registry
from .rules import RULES, Backprop, FeedbackFamily, LearningRule, available_rules, get_rule, register_rule
from .training import LOSSES, TrainConfig, evaluate, make_optimizer, make_scheduler, train_epoch, train_step
from .targetprop import DifferenceTargetProp, GaitProp, inverse_reconstruction_error, orthogonality_defect
from .local import LocalErrors

__all__ = [
    "ACTIVATIONS", "Activation", "FEEDBACK_SPECS", "backprop_twin", "check_finite", "convert",
    "trainable_layers", "angle_deg", "feedback_angles", "gradient_alignment", "MLP", "MODELS", "LeNet",
    "ResNet", "build_model", "Registry", "RULES", "Backprop", "FeedbackFamily", "LearningRule",
    "available_rules", "get_rule", "register_rule", "LOSSES", "TrainConfig", "evaluate", "make_optimizer",
    "make_scheduler", "train_epoch", "train_step", "DifferenceTargetProp", "GaitProp",
    "inverse_reconstruction_error", "orthogonality_defect", "LocalErrors",
]
