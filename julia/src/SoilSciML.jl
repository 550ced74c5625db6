"""
    SoilSciML

The Julia engine of soilsciml: the SOC depth-profile universal differential equation (method of
lines, networks NN_P and NN_R, losses, Adam then BFGS training through the solver) and the
HySoMi six-pool microbial model (batched simulation, and training of the trait network through
the differentiable batched solve), in Lux + the OrdinaryDiffEq solver libraries +
SciMLSensitivity + Zygote + Optimisers / Optimization.

Entry points take plain arrays and `Dict{String,Any}` settings and return `NamedTuple`s of
arrays, so they can be called from Julia directly or from Python through the PythonCall
extension (`ext/SoilSciMLPythonCallExt.jl`, the only file that knows about Python types).
Array layouts follow Python's logical indexing: a Python array of shape `(nt, nz)` arrives as a
Julia `nt × nz` matrix.

Units: SOC in % (g C per 100 g soil), depth in m, time in years for SOC; carbon in mg C per g
soil and time in hours for the microbial model.
"""
module SoilSciML

using ChainRulesCore: @ignore_derivatives
using ComponentArrays: ComponentArray, ComponentVector
using LinearAlgebra: dot
using Lux: Lux, AbstractLuxContainerLayer, AbstractLuxLayer, Chain, Dense
using NNlib: gelu, relu, sigmoid, softplus
using Optim: BFGS, LBFGS
using Optimisers: Optimisers, Adam
using Optimization: Optimization, OptimizationFunction, OptimizationProblem
using OptimizationOptimJL: OptimizationOptimJL
using OptimizationOptimisers: OptimizationOptimisers
using OrdinaryDiffEqHighOrderRK: DP8
using OrdinaryDiffEqLowOrderRK: DP5
using OrdinaryDiffEqSDIRK: ImplicitEuler, Kvaerno5
using OrdinaryDiffEqTsit5: Tsit5
using Random: AbstractRNG, Xoshiro, randperm
using SciMLBase: ODEProblem, ReturnCode, solve
using SciMLSensitivity: BacksolveAdjoint, ForwardDiffSensitivity, InterpolatingAdjoint,
                        QuadratureAdjoint, ReverseDiffAdjoint, ZygoteVJP
using Statistics: mean, median, std
using Zygote: Zygote

export simulate_soc_truth, predict_soc, soc_loss, soc_loss_gradient, fit_soc, simulate_pbm,
       fit_hysomi, predict_hysomi

include("settings.jl")
include("soc_model.jl")
include("soc_network.jl")
include("soc_data.jl")
include("soc_ude.jl")
include("soc_training.jl")
include("pbm.jl")
include("hysomi_network.jl")
include("hysomi_constraints.jl")
include("hysomi_loss.jl")
include("hysomi_training.jl")

end # module SoilSciML
