# HySoMi process-based model (docs/science/hysomi.md#hysomi-pbm): six pools, 0-D, one gram of soil.
# Carbon in mg C / g soil, time in hours.
#
# Keys read by `simulate_pbm` (besides the solver.* keys of settings.jl), the fields of
# Python's `soilsciml.models.hysomi.Physics`:
#   physics.q_max       0.5   Langmuir capacity Q_max, mg C / g
#   physics.k_ads_half  0.1   Langmuir half-saturation K_ads, mg C / g
#   physics.k_ads_rate  1.0   sorption rate k_ads, 1 / h

"""The 13 biokinetic parameters, in the order of the contracts."""
const PBM_PARAMETERS = (:mu_max, :k_R, :k_D, :Y, :k_S, :K_H, :v_max, :C_thr, :sigma, :f_N, :Y_M,
                        :m_max, :beta)

"""The six states, in the order of the contracts."""
const PBM_STATES = (:B_A, :B_D, :C_H, :C_L, :C_LS, :CO2)

"""
    Sorption(q_max, k_ads_half, k_ads_rate)

Kinetic Langmuir sorption of low-molecular-weight carbon: capacity (mg C/g), half-saturation
(mg C/g) and rate (1/h). Defaults follow docs/science/hysomi.md#hysomi-pbm (after Kothawala et al. 2009).
"""
Base.@kwdef struct Sorption
    q_max::Float64 = 0.5
    k_ads_half::Float64 = 0.1
    k_ads_rate::Float64 = 1.0
end

"""
    logistic(x)

`1 / (1 + exp(-x))` written with `tanh`, finite and differentiable for any `x` (the dormancy
switch is steep for small `sigma`); the same formula as Python's `models.hysomi.sigmoid`.
"""
logistic(x) = (1 + tanh(x / 2)) / 2

"""
    pbm_rhs(u, θ, sorption) -> Vector

Out-of-place right-hand side of the six pools for the 13 parameters `θ` (order of
`PBM_PARAMETERS`), in mg C / (g h). Written without mutation, so that Zygote (and every
adjoint of SciMLSensitivity) differentiates it with respect to `u` and `θ`. The six
derivatives sum to zero: total carbon is conserved by the model (and to round-off by any
Runge-Kutta method).
"""
function pbm_rhs(u, θ, s::Sorption)
    mu_max, k_R, k_D, Y, k_S, K_H, v_max, C_thr, sigma, f_N, Y_M, m_max, beta = θ
    B_A, B_D, C_H, C_L, C_LS = u[1], u[2], u[3], u[4], u[5]
    growth = mu_max * k_S * C_L / (mu_max + k_S * C_L) * B_A
    uptake = m_max * k_S * C_L / (m_max + k_S * C_L)
    maintenance_active = uptake * B_A
    maintenance_dormant = uptake * beta * B_D
    decay_active = m_max * B_A - maintenance_active
    decay_dormant = m_max * beta * B_D - maintenance_dormant
    decay = decay_active + decay_dormant
    switch = logistic((C_L - C_thr) / (sigma * C_thr))
    deactivation = (1 - switch) * k_D * B_A
    reactivation = switch * k_R * B_D
    depolymerisation = v_max * C_H / (K_H + C_H) * B_A
    sorption = s.k_ads_rate * (s.q_max * C_L / (s.k_ads_half + C_L) - C_LS)
    return [growth - deactivation + reactivation - decay_active / Y_M,
            deactivation - reactivation - decay_dormant / Y_M,
            -depolymerisation + f_N * decay,
            depolymerisation + (1 - f_N) * decay - maintenance_active - maintenance_dormant -
            growth / Y - sorption,
            sorption,
            (1 - Y) / Y * growth + (1 - Y_M) / Y_M * decay + maintenance_active +
            maintenance_dormant]
end

"""
    PBMField(sorption)

The vector field `(u, θ, t) -> du/dt` of an `ODEProblem` whose parameters `θ` are the plain
vector of 13 biokinetic parameters (the array parameters every adjoint accepts); the fixed
sorption constants live in the field.
"""
struct PBMField
    sorption::Sorption
end

(f::PBMField)(u, θ, t) = pbm_rhs(u, θ, f.sorption)

"""
    PBMSolver(sorption, times, solver)

Everything one sample's solve needs: an `ODEProblem` of the `PBMField` over the span of
`times` (its `u0` and `p` are replaced at every solve), the output times in hours and the
solver settings.
"""
struct PBMSolver{P,S<:SolverSettings}
    problem::P
    times::Vector{Float64}
    solver::S
end

function PBMSolver(sorption::Sorption, times::AbstractVector, solver::SolverSettings)
    times = Vector{Float64}(times)
    length(times) >= 2 && all(diff(times) .> 0) ||
        throw(ArgumentError("times must hold at least two increasing values (hours)"))
    problem = ODEProblem{false}(PBMField(sorption), zeros(length(PBM_STATES)),
                                (times[1], times[end]), zeros(length(PBM_PARAMETERS)))
    return PBMSolver(problem, times, solver)
end

"""
    solve_sample(pbm, θ, u0)

One sample's solve from `u0` with parameters `θ`, saved at `pbm.times`. `u0` and `θ` enter
through `solve`'s keywords, the form SciMLSensitivity differentiates with the configured
`sensealg` when called under Zygote.
"""
function solve_sample(pbm::PBMSolver, θ::AbstractVector, u0::AbstractVector)
    s = pbm.solver
    return solve(pbm.problem, s.algorithm; u0 = u0, p = θ, saveat = pbm.times,
                 reltol = s.rtol, abstol = s.atol, maxiters = s.maxiters,
                 sensealg = s.sensealg)
end

"""
    initial_rows(initial, n) -> Matrix{Float64}

`n × 6` initial states from one shared state `(6,)` or one per sample `(n, 6)`.
"""
function initial_rows(initial::AbstractArray, n::Integer)
    if ndims(initial) == 1
        length(initial) == 6 || throw(ArgumentError("initial must have 6 states; got $(length(initial))"))
        return repeat(reshape(Vector{Float64}(initial), 1, 6), n, 1)
    end
    size(initial) == (n, 6) || throw(ArgumentError("initial must have shape (6,) or ($n, 6); got $(size(initial))"))
    return Matrix{Float64}(initial)
end

"""
    simulate_rows(pbm, params, u0) -> (states, codes, num_steps)

Forward solves (no derivatives) of every row of `params` (`n × 13`) from the rows of `u0`
(`n × 6`) on Julia threads: states `n × nt × 6` (NaN after a failure), status codes and
attempted steps per sample.
"""
function simulate_rows(pbm::PBMSolver, params::AbstractMatrix, u0::AbstractMatrix)
    n, nt = size(params, 1), length(pbm.times)
    states = fill(NaN, n, nt, length(PBM_STATES))
    codes = zeros(Int, n)
    steps = zeros(Int, n)
    Threads.@threads for i in 1:n
        sol = solve_sample(pbm, params[i, :], u0[i, :])
        states[i, :, :] .= saved_states(sol, nt, length(PBM_STATES))
        codes[i] = status_code(sol, nt)
        steps[i] = first(step_counts(sol))
    end
    return states, codes, steps
end

"""
    simulate_pbm(params, initial, times, settings) -> NamedTuple

Batched forward simulation of the microbial model, one solve per sample on Julia threads.

# Arguments
- `params::AbstractMatrix`: `n × 13` parameters in the order of `PBM_PARAMETERS`.
- `initial::AbstractArray`: `(6,)` shared or `n × 6` initial states, mg C / g.
- `times::AbstractVector`: at least two increasing output times in hours; the solve starts at
  `times[1]`.
- `settings::AbstractDict`: `solver.*` and `physics.*` keys.

# Returns
`(times, states, codes, num_steps)`: states `n × nt × 6`, a status code per sample (see
`status_code`; failed samples keep NaN after the failure) and attempted steps per sample.
"""
function simulate_pbm(params::AbstractMatrix, initial::AbstractArray, times::AbstractVector,
                      settings::AbstractDict)
    size(params, 2) == length(PBM_PARAMETERS) ||
        throw(ArgumentError("params must have 13 columns; got $(size(params, 2))"))
    pbm = PBMSolver(from_settings(Sorption, settings, "physics"), times, solver_settings(settings))
    states, codes, steps = simulate_rows(pbm, Matrix{Float64}(params),
                                         initial_rows(initial, size(params, 1)))
    return (times = pbm.times, states = states, codes = codes, num_steps = steps)
end
