# Ecological constraints of HySoMi (spec hysomi.md section 3, paper Table 1) in their smooth,
# differentiable form. The constraint table is data sent by Python (the rows of
# `soilsciml.models.constraints.constraint_set`, the same table the JAX engine uses): each row
# names two functionals and the coefficients of `a * v1 <= b * v2`, and its loss is
# `relu(a * v1 - b * v2)`. This file only knows how to evaluate the named functionals; no
# threshold is written here.
#
# A trajectory `S` is `6 × nt` (states first, as `Array(sol)` gives it), times in hours, `θ`
# the 13 parameters; `τ` is `constraints.temperature`, relative to the sample's max B_A.

"""B_A + B_D at every output time, mg C/g."""
biomass(S) = S[1, :] .+ S[2, :]

"""C_H + C_L + C_LS at every output time, mg C/g."""
organic_carbon(S) = S[3, :] .+ S[4, :] .+ S[5, :]

"""
    interval_widths(times)

Length of time each output point stands for, hours: half the gap to each neighbour.
"""
function interval_widths(times::AbstractVector)
    gaps = diff(times)
    return 0.5 .* (vcat(0.0, gaps) .+ vcat(gaps, 0.0))
end

"""
    soft_peak_time(S, times, θ, τ)

argmax_t B_A (h) as a softmax of `B_A / (τ max B_A)` over the output times.
"""
function soft_peak_time(S, times, θ, τ)
    active = S[1, :]
    peak = maximum(active)
    weights = exp.((active .- peak) ./ (τ * peak))
    return sum(weights .* times) / sum(weights)
end

"""
    soft_active_duration(S, times, θ, τ)

Time (h) with B_A above half its maximum, the indicator smoothed by a sigmoid of width
`τ max B_A`.
"""
function soft_active_duration(S, times, θ, τ)
    active = S[1, :]
    peak = maximum(active)
    indicator = logistic.((active .- 0.5 * peak) ./ (τ * peak))
    return sum(indicator .* @ignore_derivatives(interval_widths(times)))
end

"""The value of parameter `name` (one of `PBM_PARAMETERS`)."""
function parameter_functional(name::Symbol)
    index = findfirst(==(name), PBM_PARAMETERS)
    return (S, times, θ, τ) -> θ[index]
end

"""
Smooth functionals by the names of Python's `soilsciml.models.constraints.FUNCTIONALS`, each
`(S, times, θ, τ) -> value` (mg C/g, hours or the parameter's unit).
"""
const FUNCTIONALS = Dict{String,Function}(
    "one" => (S, times, θ, τ) -> one(eltype(S)),
    "min_biomass" => (S, times, θ, τ) -> minimum(biomass(S)),
    "max_biomass" => (S, times, θ, τ) -> maximum(biomass(S)),
    "initial_biomass" => (S, times, θ, τ) -> S[1, 1] + S[2, 1],
    "min_organic_carbon" => (S, times, θ, τ) -> minimum(organic_carbon(S)),
    "max_organic_carbon" => (S, times, θ, τ) -> maximum(organic_carbon(S)),
    "max_active" => (S, times, θ, τ) -> maximum(S[1, :]),
    "final_active" => (S, times, θ, τ) -> S[1, end],
    "final_dormant" => (S, times, θ, τ) -> S[2, end],
    "initial_dormant" => (S, times, θ, τ) -> S[2, 1],
    "initial_hmw" => (S, times, θ, τ) -> S[3, 1],
    "final_hmw" => (S, times, θ, τ) -> S[3, end],
    "peak_time_active" => soft_peak_time,
    "active_duration" => soft_active_duration,
    (String(name) => parameter_functional(name) for name in (:mu_max, :k_R, :k_D, :m_max))...,
)

"""
    Constraint(label, lhs, rhs, a, b)

One row of the constraint table: `a * lhs <= b * rhs` with `lhs` and `rhs` functionals of
`FUNCTIONALS`.
"""
struct Constraint
    label::String
    lhs::Function
    rhs::Function
    a::Float64
    b::Float64
end

"""
    constraint_table(rows) -> Vector{Constraint}

The constraints from Python's table: a vector of Dicts with keys `label`, `lhs`, `rhs`, `a`
and `b`. An `ArgumentError` names a missing key or an unknown functional.
"""
function constraint_table(rows::AbstractVector)
    map(rows) do row
        for key in ("label", "lhs", "rhs", "a", "b")
            haskey(row, key) || throw(ArgumentError("constraint row lacks $key: $(repr(row))"))
        end
        functional(key) = choice(FUNCTIONALS, String(row[key]), "constraints.$(row["label"]).$key")
        Constraint(String(row["label"]), functional("lhs"), functional("rhs"), Float64(row["a"]),
                   Float64(row["b"]))
    end
end

"""
    soft_violations(constraints, S, times, θ, τ) -> Vector

`relu(a * v1 - b * v2)` of every constraint for one trajectory `S` (`6 × nt`) and its
parameters `θ` (13).
"""
soft_violations(constraints::AbstractVector{Constraint}, S, times, θ, τ) =
    map(c -> relu(c.a * c.lhs(S, times, θ, τ) - c.b * c.rhs(S, times, θ, τ)), constraints)
