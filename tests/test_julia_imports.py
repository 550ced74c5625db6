"""Every name SoilSciML.jl takes from a package is one that package offers at its [compat] version.

Julia resolves ``using Pkg: name`` only when loading, so a name a new major version no longer
exports (``DP5`` after OrdinaryDiffEq 7 narrowed its re-exports to the default solver set)
is found only by a machine with Julia. :data:`EXPORTS` records, from each package's own
source, what it exports at the major versions this table was checked for; the tests hold the
Julia sources (imports and qualified ``Pkg.name`` uses) and ``julia/Project.toml`` to it, so a
wrong name or a compat bump without a new check fails here, with no Julia needed.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
JULIA = ROOT / "julia"
PROJECT = tomllib.loads((JULIA / "Project.toml").read_text())
PACKAGE_SOURCES = sorted([*(JULIA / "src").glob("*.jl"), *(JULIA / "ext").glob("*.jl")])
TEST_SOURCES = sorted((JULIA / "test").glob("*.jl"))


@dataclass(frozen=True)
class Exports:
    """What a package offers at some major versions.

    Parameters
    ----------
    majors : tuple of str
        The major versions (``"2"``, ``"0.15"``) the names were checked for.
    names : frozenset of str
        Exported names (``export`` lines, with those of the packages it ``@reexport``s that
        this project uses).
    public : frozenset of str
        Documented public names that are not exported, reached as ``Pkg.name``.
    source : str
        Where the names were read.
    """

    majors: tuple[str, ...]
    names: frozenset[str]
    public: frozenset[str] = frozenset()
    source: str = ""


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


_SCIMLBASE = _names(
    """ReturnCode solve solve! init step! remake isinplace ODEProblem ODESolution ODEFunction
    OptimizationProblem OptimizationFunction NonlinearProblem SteadyStateProblem DiscreteProblem
    EnsembleProblem EnsembleSolution ContinuousCallback DiscreteCallback CallbackSet
    terminate! savevalues! addsteps! reinit! u_modified! check_error"""
)

#: Package -> what it offers, read from its source (see each entry's ``source``).
EXPORTS: dict[str, Exports] = {
    "ChainRulesCore": Exports(
        ("1",),
        _names(
            """frule rrule RuleConfig HasReverseMode NoReverseMode HasForwardsMode NoForwardsMode
            frule_via_ad rrule_via_ad @non_differentiable @opt_out @scalar_rule @thunk
            @not_implemented ProjectTo canonicalize unthunk zero_tangent add!!
            is_inplaceable_destination ignore_derivatives @ignore_derivatives StructuralTangent
            Tangent MutableTangent NoTangent InplaceableThunk Thunk ZeroTangent AbstractZero
            AbstractThunk"""
        ),
        source="src/ChainRulesCore.jl export lines",
    ),
    "ComponentArrays": Exports(
        ("0.15",),
        _names(
            """fastindices AbstractAxis Axis PartitionedAxis ShapedAxis ViewAxis FlatAxis
            ComponentArray ComponentVector ComponentMatrix getaxes getdata valkeys KeepIndex
            labels label2index"""
        ),
        source="src/ComponentArrays.jl export lines",
    ),
    "Lux": Exports(
        ("1",),
        _names(
            """Chain Parallel SkipConnection PairwiseFusion BranchLayer Maxout RepeatedLayer
            Bilinear Dense Embedding Scale Conv ConvTranspose Upsample PixelShuffle MaxPool
            MeanPool BatchNorm GroupNorm InstanceNorm LayerNorm WeightNorm NoOpLayer ReshapeLayer
            SelectDim FlattenLayer WrappedFunction StatefulLuxLayer @compact Training
            AutoEnzyme AutoForwardDiff AutoReverseDiff AutoTracker AutoZygote MSELoss f32 f64
            AbstractLuxLayer AbstractLuxContainerLayer AbstractLuxWrapperLayer
            relu sigmoid softplus gelu tanh_fast sigmoid_fast softmax"""
        ),
        public=_names(
            """setup apply initialparameters initialstates parameterlength statelength
            testmode trainmode update_state replicate outputsize"""
        ),
        source=(
            "src/Lux.jl export lines and @reexport using LuxCore (whose exports are the three "
            "abstract layer types); lib/LuxCore/src/LuxCore.jl @public list"
        ),
    ),
    "NNlib": Exports(
        ("0.9",),
        _names(
            """σ sigmoid hardσ hardsigmoid hardtanh relu leakyrelu relu6 rrelu elu gelu glu
            swish hardswish selu celu softplus softsign logσ logsigmoid logcosh mish tanhshrink
            softshrink trelu thresholdrelu lisht tanh_fast sigmoid_fast softmax logsoftmax"""
        ),
        source="src/activations.jl ACTIVATIONS (each exported), as Lux's `using NNlib:` lists",
    ),
    "Optim": Exports(
        ("1", "2"),
        _names(
            """optimize maximize NonDifferentiable OnceDifferentiable TwiceDifferentiable
            TwiceDifferentiableConstraints OptimizationState OptimizationTrace NelderMead
            ParticleSwarm SimulatedAnnealing GradientDescent BFGS LBFGS ConjugateGradient
            AcceleratedGradientDescent MomentumGradientDescent NGMRES OACCEL Newton
            NewtonTrustRegion GoldenSection Brent Fminbox SAMIN IPNewton"""
        ),
        source="src/Optim.jl export list (no algorithm removed in the 2.0 release notes)",
    ),
    "Optimisers": Exports(
        ("0.3", "0.4"),
        _names(
            """AbstractRule destructure trainables KeyPath haskeypath getkeypath Descent Adam
            Momentum Nesterov Rprop RMSProp AdaGrad AdaMax AdaDelta AMSGrad NAdam AdamW RAdam
            OAdam AdaBelief WeightDecay SignDecay ClipGrad ClipNorm OptimiserChain Lion
            AccumGrad"""
        ),
        public=_names("apply! init setup update update! adjust adjust! Leaf"),
        source="src/Optimisers.jl export and `public` lines; src/adjust.jl (documented adjust!)",
    ),
    "Optimization": Exports(
        ("5",),
        _SCIMLBASE | _names("solve OptimizationCache AutoZygote AutoForwardDiff AutoFiniteDiff"),
        source="src/Optimization.jl: @reexport using SciMLBase, ADTypes, OptimizationBase",
    ),
    "OptimizationOptimJL": Exports(("0.4",), frozenset(), source="loaded for its solve methods"),
    "OptimizationOptimisers": Exports(("0.3",), frozenset(), source="loaded for its solve methods"),
    "OrdinaryDiffEq": Exports(
        ("7",),
        _SCIMLBASE
        | _names(
            """DefaultODEAlgorithm Tsit5 AutoTsit5 Vern6 Vern7 Vern8 Vern9 AutoVern6 AutoVern7
            AutoVern8 AutoVern9 Rosenbrock23 Rodas5P FBDF"""
        ),
        source="v7 NEWS.md 'package scope reduction': the default solver set only",
    ),
    "OrdinaryDiffEqHighOrderRK": Exports(
        ("2",), _names("TanYam7 DP8 PFRK87 TsitPap8"), source="lib/OrdinaryDiffEqHighOrderRK"
    ),
    "OrdinaryDiffEqLowOrderRK": Exports(
        ("2",),
        _names(
            """Euler SplitEuler Heun Ralston Midpoint RK4 BS3 OwrenZen3 OwrenZen4 OwrenZen5 BS5
            DP5 Anas5 RKO65 FRK65 RKM MSRK5 MSRK6 PSRK4p7q6 PSRK3p5q4 PSRK3p6q5 Stepanov5 SIR54
            Alshina2 Alshina3 Alshina6 AutoDP5"""
        ),
        source="lib/OrdinaryDiffEqLowOrderRK/src/OrdinaryDiffEqLowOrderRK.jl",
    ),
    "OrdinaryDiffEqSDIRK": Exports(
        ("2",),
        _names(
            """ImplicitEuler ImplicitMidpoint Trapezoid TRBDF2 SDIRK2 SDIRK22 Kvaerno3 KenCarp3
            Cash4 Hairer4 Hairer42 SSPSDIRK2 Kvaerno4 Kvaerno5 KenCarp4 KenCarp47 KenCarp5
            KenCarp58 ESDIRK54I8L2SA SFSDIRK4 SFSDIRK5 CFNLIRK3 SFSDIRK6 SFSDIRK7 SFSDIRK8
            ESDIRK436L2SA2 ESDIRK437L2SA ESDIRK547L2SA2 ESDIRK659L2SA"""
        ),
        source="lib/OrdinaryDiffEqSDIRK/src/OrdinaryDiffEqSDIRK.jl",
    ),
    "OrdinaryDiffEqTsit5": Exports(
        ("2",), _names("Tsit5 AutoTsit5"), source="lib/OrdinaryDiffEqTsit5"
    ),
    "PythonCall": Exports(
        ("0.9",),
        _names(
            """Py PyArray PyDict PyList PyIO PyIterable PySet PyTable PyException pyconvert
            @pyconvert pyconvert_add_rule pyrepr pystr pyimport pyeval pyexec pybuiltins pyjl
            pyisjl pyjlvalue"""
        ),
        source="src/API/exports.jl",
    ),
    "SciMLBase": Exports(("3",), _SCIMLBASE, source="src/SciMLBase.jl export lines"),
    "SciMLSensitivity": Exports(
        ("7",),
        _names(
            """BacksolveAdjoint QuadratureAdjoint GaussAdjoint GaussKronrodAdjoint
            InterpolatingAdjoint TrackerAdjoint ZygoteAdjoint ReverseDiffAdjoint MooncakeAdjoint
            EnzymeAdjoint ForwardSensitivity ForwardDiffSensitivity ForwardDiffOverAdjoint
            SteadyStateAdjoint TrackerVJP ZygoteVJP EnzymeVJP ReverseDiffVJP ReactantVJP
            adjoint_sensitivities ODEForwardSensitivityProblem extract_local_sensitivities"""
        ),
        source="src/SciMLSensitivity.jl export lines",
    ),
    "Zygote": Exports(
        ("0.7",),
        _names(
            """Params withgradient gradient withjacobian jacobian hessian diaghessian pullback
            pushforward rrule_via_ad"""
        ),
        source="src/Zygote.jl export lines",
    ),
    # Julia's standard libraries: the names used here, exported since Julia 1.7.
    "LinearAlgebra": Exports(("1",), _names("dot norm mul! I"), source="stdlib"),
    "Random": Exports(("1",), _names("AbstractRNG Xoshiro randperm rand randn"), source="stdlib"),
    "Statistics": Exports(("1",), _names("mean median std var"), source="stdlib"),
    "TOML": Exports(("1",), _names("parsefile parse"), source="stdlib"),
    "Test": Exports(("1",), _names("@test @testset @test_throws"), source="stdlib"),
}

_IMPORT = re.compile(
    r"^[ \t]*(?:using|import)[ \t]+([A-Za-z]\w*)[ \t]*:[ \t]*((?:[^\n#]*,[ \t]*\n)*[^\n#]*)", re.M
)
_WHOLE = re.compile(r"^[ \t]*(?:using|import)[ \t]+([A-Za-z][\w, \t]*)$", re.M)


def imports(text: str) -> list[tuple[str, str]]:
    """``(package, name)`` for every name of ``using Pkg: a, b`` and ``import Pkg: a`` lines."""
    return [
        (package, name.strip())
        for package, body in _IMPORT.findall(text)
        for name in body.split(",")
        if name.strip()
    ]


def _code(text: str) -> str:
    """Julia source without docstrings, string literals and comments."""
    text = re.sub(r'"""(.*?)"""', '""', text, flags=re.S)
    text = re.sub(r'"(?:\\.|[^"\\\n])*"', '""', text)
    return re.sub(r"#.*$", "", text, flags=re.M)


def qualified_uses(text: str, packages) -> list[tuple[str, str]]:
    """``(package, name)`` for every ``Pkg.name`` in the code of ``text``."""
    pattern = re.compile(rf"\b({'|'.join(map(re.escape, packages))})\.(@?\w+!?)")
    return pattern.findall(_code(text))


def unknown_names(text: str) -> list[str]:
    """Names taken from packages in ``text`` that :data:`EXPORTS` does not list for them."""
    bad = [
        f"{package}: {name}"
        for package, name in imports(text)
        if package != "SoilSciML"
        and name != package
        and (package not in EXPORTS or name not in EXPORTS[package].names)
    ]
    offered = {p: e.names | e.public for p, e in EXPORTS.items()}
    bad += [f"{p}.{n}" for p, n in qualified_uses(text, EXPORTS) if n not in offered[p]]
    return bad


def _majors(compat: str) -> set[str]:
    """Major versions of a compat entry: ``"6.89, 7"`` -> {"6", "7"}, ``"0.15"`` -> {"0.15"}."""
    majors = set()
    for part in compat.split(","):
        numbers = part.strip().lstrip("^~=").split(".")
        majors.add(".".join(numbers[:2]) if numbers[0] == "0" else numbers[0])
    return majors


def test_the_old_imports_are_caught():
    old = "using OrdinaryDiffEq: DP5, DP8, ImplicitEuler, Kvaerno5, ODEProblem, Tsit5, solve\n"
    assert unknown_names(old) == [
        "OrdinaryDiffEq: DP5",
        "OrdinaryDiffEq: DP8",
        "OrdinaryDiffEq: ImplicitEuler",
        "OrdinaryDiffEq: Kvaerno5",
    ]
    wrapper = "using OptimizationOptimJL: OptimizationOptimJL\nf() = OptimizationOptimJL.BFGS()\n"
    assert unknown_names(wrapper) == ["OptimizationOptimJL.BFGS"]
    assert unknown_names('# Lux.jl docs\n"""Lux.Nothing"""\nx = "Zygote.foo"\n') == []


@pytest.mark.parametrize("path", PACKAGE_SOURCES + TEST_SOURCES, ids=lambda p: p.name)
def test_every_imported_name_is_offered_at_the_compat_version(path):
    assert unknown_names(path.read_text()) == []


@pytest.mark.parametrize("path", PACKAGE_SOURCES, ids=lambda p: p.name)
def test_imported_packages_are_dependencies_checked_at_their_compat(path):
    text = path.read_text()
    declared = {**PROJECT["deps"], **PROJECT["weakdeps"]}
    packages = {package for package, _ in imports(text)}
    for line in _WHOLE.findall(_code(text)):
        packages |= {name.strip() for name in line.split(",")}
    packages -= {"SoilSciML"}
    for package in packages:
        assert package in declared, f"{path.name} loads {package}, which is not in [deps]"
        compat = _majors(PROJECT["compat"][package])
        checked = set(EXPORTS[package].majors)
        assert compat <= checked, (
            f"[compat] admits {package} {sorted(compat - checked)}, whose exports this table "
            f"was not checked against ({EXPORTS[package].source})"
        )


def test_own_names_the_tests_import_are_defined():
    sources = "\n".join(p.read_text() for p in sorted((JULIA / "src").glob("*.jl")))
    for path in TEST_SOURCES:
        for package, name in imports(path.read_text()):
            if package == "SoilSciML" and name != "SoilSciML":
                prefix = r"(?:function |const |struct |mutable struct |Base\.@kwdef struct )?"
                defined = rf"^{prefix}{re.escape(name)}\b"
                assert re.search(defined, sources, re.M), f"{path.name} imports {name}"


def test_ordinarydiffeq_sublibraries_are_declared_everywhere():
    import json

    juliapkg = json.loads((ROOT / "python" / "soilsciml" / "juliapkg.json").read_text())
    sublibraries = {name for name in PROJECT["deps"] if name.startswith("OrdinaryDiffEq")}
    assert sublibraries == {
        "OrdinaryDiffEqHighOrderRK",
        "OrdinaryDiffEqLowOrderRK",
        "OrdinaryDiffEqSDIRK",
        "OrdinaryDiffEqTsit5",
    }
    for name in sublibraries:
        assert juliapkg["packages"][name]["version"] == PROJECT["compat"][name] == "2"
    assert "OrdinaryDiffEq" not in PROJECT["deps"]
