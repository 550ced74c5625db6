# Plain-Dict settings, the solver and sensitivity registries, and solve status codes.
#
# Settings arrive as nested `Dict{String,Any}` (Python: `soilsciml.config.to_dict(config)`).
# Every key read anywhere in this package goes through `setting`, with its default next to it.
#
# Solver keys (section "solver", `soilsciml.config.SolverConfig`):
#   solver.solver     "tsit5"   tsit5 | dopri5 | dopri8 | kvaerno5 | implicit_euler
#   solver.rtol       1e-5      relative tolerance
#   solver.atol       1e-5      absolute tolerance
#   solver.max_steps  100000    step limit: OrdinaryDiffEq's `maxiters`, which counts every
#                                attempted step, accepted or rejected, as diffrax's `max_steps`
#                                does in the JAX engine
#   solver.dtype      "float64" only float64 is supported by this engine
# Top-level key set by the Python engine, not part of the config dataclasses:
#   sensealg          "interpolating"  a key of `SENSEALGS`

"""
    setting(settings, key, default)

Value at the dotted `key` (for example `"solver.rtol"`) of the nested `settings` Dict,
converted to the type of `default`; `default` when any part of the path is missing.
Throws an `ArgumentError` naming the key when the value cannot be converted.
"""
function setting(settings::AbstractDict, key::AbstractString, default::T) where {T}
    node = settings
    for part in split(key, '.')
        name = String(part)
        (node isa AbstractDict && haskey(node, name)) || return default
        node = node[name]
    end
    return convert_setting(T, node, key)
end

"""
    convert_setting(T, value, key)

`value` as a `T`, or an `ArgumentError` that names the settings `key`.
"""
function convert_setting(::Type{T}, value, key::AbstractString) where {T}
    value isa T && return value
    if T <: Real && value isa Real && !(value isa Bool)
        return convert(T, value)
    elseif T === String && value isa AbstractString
        return String(value)
    end
    throw(ArgumentError("setting $key must be a $T; got $(repr(value))"))
end

"""
    choice(registry, name, key)

`registry[name]`, or an `ArgumentError` listing the valid names for the settings `key`.
"""
function choice(registry::AbstractDict, name::AbstractString, key::AbstractString)
    haskey(registry, name) && return registry[name]
    valid = join(sort!(collect(keys(registry))), ", ")
    throw(ArgumentError("setting $key must be one of $valid; got $(repr(name))"))
end

"""
Integrators by the names of `soilsciml.config.SOLVERS`, each from the OrdinaryDiffEq solver
library that defines it (OrdinaryDiffEq 7 re-exports only Tsit5 of these).
"""
const ALGORITHMS = Dict{String,Any}(
    "tsit5" => Tsit5,
    "dopri5" => DP5,
    "dopri8" => DP8,
    "kvaerno5" => Kvaerno5,
    "implicit_euler" => ImplicitEuler,
)

"""
Gradient strategies through the solver. `interpolating` is the SOC paper's choice,
`InterpolatingAdjoint(autojacvec = ZygoteVJP())`; the others trade memory for speed or
accuracy (`backsolve` integrates the state backwards, `quadrature` stores the forward solution,
`reversediff` and `forwarddiff` differentiate the discretised solver).
"""
const SENSEALGS = Dict{String,Any}(
    "interpolating" => InterpolatingAdjoint(; autojacvec = ZygoteVJP()),
    "interpolating_checkpointed" => InterpolatingAdjoint(;
        autojacvec = ZygoteVJP(), checkpointing = true),
    "backsolve" => BacksolveAdjoint(; autojacvec = ZygoteVJP()),
    "quadrature" => QuadratureAdjoint(; autojacvec = ZygoteVJP()),
    "reversediff" => ReverseDiffAdjoint(),
    "forwarddiff" => ForwardDiffSensitivity(),
)

"""
    SolverSettings(algorithm, rtol, atol, maxiters, sensealg)

Integrator instance, tolerances, step limit and sensitivity algorithm of one solve.
"""
struct SolverSettings{A,S}
    algorithm::A
    rtol::Float64
    atol::Float64
    maxiters::Int
    sensealg::S
end

"""
    solver_settings(settings) -> SolverSettings

Read the `solver.*` and `sensealg` keys (see the top of this file).
"""
function solver_settings(settings::AbstractDict)
    dtype = setting(settings, "solver.dtype", "float64")
    dtype == "float64" ||
        throw(ArgumentError("setting solver.dtype must be float64 for the Julia engine; got $dtype"))
    algorithm = choice(ALGORITHMS, setting(settings, "solver.solver", "tsit5"), "solver.solver")()
    sensealg = choice(SENSEALGS, setting(settings, "sensealg", "interpolating"), "sensealg")
    rtol = setting(settings, "solver.rtol", 1e-5)
    atol = setting(settings, "solver.atol", 1e-5)
    maxiters = setting(settings, "solver.max_steps", 100_000)
    (rtol > 0 && atol > 0) || throw(ArgumentError("solver.rtol and solver.atol must be positive"))
    maxiters >= 1 || throw(ArgumentError("solver.max_steps must be >= 1; got $maxiters"))
    return SolverSettings(algorithm, rtol, atol, maxiters, sensealg)
end

"""
    status_code(sol, nt) -> Int

The codes of Python's `soilsciml.engines.base.SOLVE_MESSAGES`: 0 success, 1 step limit
reached, 2 non-finite state, 3 step size collapsed or implicit solve diverged. A solve that
stopped before saving all `nt` output times is a failure even if its return code says otherwise.
"""
function status_code(sol, nt::Integer)
    finite = all(u -> all(isfinite, u), sol.u)
    sol.retcode == ReturnCode.Success && finite && length(sol.u) == nt && return 0
    sol.retcode == ReturnCode.MaxIters && return 1
    (!finite || sol.retcode == ReturnCode.Unstable || sol.retcode == ReturnCode.DtNaN) && return 2
    return 3
end

"""
    saved_states(sol, nt, nstate) -> Matrix{Float64}

The saved states as an `nt × nstate` matrix (time first, as Python expects); rows that a failed
solve did not reach are NaN.
"""
function saved_states(sol, nt::Integer, nstate::Integer)
    states = fill(NaN, nt, nstate)
    for (i, u) in enumerate(sol.u)
        i <= nt && (states[i, :] .= u)
    end
    return states
end

"""
    step_counts(sol) -> (steps, rejected)

Attempted steps (accepted and rejected, what `solver.max_steps` bounds; diffrax's `num_steps`
in the JAX engine) and rejected steps of a solve; 0 when the solver kept no statistics.
"""
function step_counts(sol)
    stats = sol.stats
    stats === nothing && return (0, 0)
    return (Int(stats.naccept + stats.nreject), Int(stats.nreject))
end
