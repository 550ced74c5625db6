# The SOC universal differential equation: RHS, forward solve, losses and the failure penalty,
# mirroring python/soilsciml/engines/jax_ude.py so that both engines compute the same loss for
# the same weights. The problem's preparation lives in soc_data.jl.
#
# Loss keys (section "loss" of `SOCFitConfig`):
#   loss.kind         "mse"  data misfit (NaN targets masked)
#   loss.lambda_term  1.0    weight of the data misfit
#   loss.lambda_coll  0.0    weight of the collocation term
#   loss.lambda_wd    0.0    weight decay on every weight and bias

"""Loss of a failed or non-finite solve (docs/science/soc-ude.md#soc-losses, the paper's `safe_solve`)."""
const PENALTY = 1e6

"""
    SOCUDE(data, chain, head, scaling)

Right-hand side `(soc, θ, t) -> dC/dt = transport(C) + NN_P(x) - NN_R(x)`, drivers linearly
interpolated in time from `data.drivers` (clamped outside `data.driver_times`).
"""
struct SOCUDE{B<:AbstractBoundary,C,H,S}
    transport::Transport{B}
    chain::C
    head::H
    state::S
    driver_times::Vector{Float64}
    driver_inputs::Array{Float64,3}
    depth_input::Vector{Float64}
    scaling::InputScaling
end

function SOCUDE(data::SOCData, chain, head, scaling::InputScaling)
    boundary = choice(BOUNDARIES, data.boundary, "boundary")
    transport = Transport(data.depth, data.diffusion, data.advection, boundary)
    _, state = Lux.setup(Xoshiro(0), chain)
    driver_inputs = similar(data.drivers)
    for (k, i) in enumerate((1, 3, 4))  # drivers hold pH, CEC, clay: network inputs 1, 3, 4
        driver_inputs[:, :, k] .= (data.drivers[:, :, k] .- scaling.shift[i]) ./ scaling.scale[i]
    end
    depth_input = (data.depth .- scaling.shift[5]) ./ scaling.scale[5]
    return SOCUDE(transport, chain, head, state, data.driver_times, driver_inputs, depth_input,
                  scaling)
end

"""
    known_inputs(ude, t) -> Matrix{Float64}

The `6 × nz` network inputs at time `t` that do not depend on the state (row 2, OC, is zero):
scaled drivers interpolated in time, depth and time.
"""
function known_inputs(ude::SOCUDE, t::Real)
    times = ude.driver_times
    n = length(times)
    if n == 1
        drivers = ude.driver_inputs[1, :, :]
    else
        i = clamp(searchsortedlast(times, t), 1, n - 1)
        w = clamp((t - times[i]) / (times[i + 1] - times[i]), 0.0, 1.0)
        drivers = (1 - w) .* ude.driver_inputs[i, :, :] .+ w .* ude.driver_inputs[i + 1, :, :]
    end
    nz = length(ude.depth_input)
    t_input = (t - ude.scaling.shift[6]) / ude.scaling.scale[6]
    return vcat(drivers[:, 1]', zeros(1, nz), drivers[:, 2]', drivers[:, 3]',
                ude.depth_input', fill(t_input, 1, nz))
end

"""
    rates(ude, soc, θ, t) -> (production, respiration)

NN_P and NN_R at every node in % yr-1.
"""
function rates(ude::SOCUDE, soc::AbstractVector, θ, t)
    known = @ignore_derivatives known_inputs(ude, t)
    oc = reshape((soc .- ude.scaling.shift[2]) ./ ude.scaling.scale[2], 1, :)
    x = vcat(known[1:1, :], oc, known[3:end, :])
    production = ude.head.(vec(first(ude.chain(x, θ.P, ude.state))))
    respiration = ude.head.(vec(first(ude.chain(x, θ.R, ude.state))))
    return production, respiration
end

function (ude::SOCUDE)(soc, θ, t)
    production, respiration = rates(ude, soc, θ, t)
    return transport_tendency(soc, ude.transport) .+ production .- respiration
end

"""
    SolveRecord()

Loss evaluations of one objective: count, failed solves, summed attempted and rejected steps,
and the status code of the last evaluation.
"""
mutable struct SolveRecord
    evaluations::Int
    failed::Int
    num_steps::Int
    num_rejected_steps::Int
    last_code::Int
end
SolveRecord() = SolveRecord(0, 0, 0, 0, 0)

"""
    record!(record, code, sol)

Count one loss evaluation with status `code`.
"""
function record!(r::SolveRecord, code::Integer, sol)
    steps, rejected = step_counts(sol)
    r.evaluations += 1
    r.failed += code != 0
    r.num_steps += steps
    r.num_rejected_steps += rejected
    r.last_code = code
    return nothing
end

"""
    SOCObjective(problem, settings)

Everything a loss evaluation needs: the UDE, the solver, the target layout, the collocation
field and the loss weights; `record` counts evaluations and failures (never hidden).
"""
struct SOCObjective{U<:SOCUDE,S<:SolverSettings}
    data::SOCData
    ude::U
    solver::S
    layout::TargetLayout
    collocation::CollocationField
    lambda_term::Float64
    lambda_coll::Float64
    lambda_wd::Float64
    record::SolveRecord
end

function SOCObjective(problem::AbstractDict, settings::AbstractDict)
    kind = setting(settings, "loss.kind", "mse")
    kind == "mse" || throw(ArgumentError("setting loss.kind must be mse; got $kind"))
    data = SOCData(problem)
    ude = SOCUDE(data, soc_chain(settings), network_head(settings), input_scaling(data, settings))
    return SOCObjective(data, ude, solver_settings(settings), target_layout(data, settings),
                        collocation_field(data, settings),
                        setting(settings, "loss.lambda_term", 1.0),
                        setting(settings, "loss.lambda_coll", 0.0),
                        setting(settings, "loss.lambda_wd", 0.0), SolveRecord())
end

"""
    solve_ude(ude, θ, initial, times, solver)

The forward solve from `initial` saved at `times`, with the solver's sensitivity algorithm.
"""
function solve_ude(ude::SOCUDE, θ, initial::AbstractVector, times::AbstractVector,
                   s::SolverSettings)
    problem = ODEProblem{false}(ude, initial, (times[1], times[end]), θ)
    return solve(problem, s.algorithm; saveat = times, reltol = s.rtol, abstol = s.atol,
                 maxiters = s.maxiters, sensealg = s.sensealg)
end

"""
    masked_mse(residual, mask)

Mean of squared residuals where `mask` is 1; 0 when nothing is observed.
"""
masked_mse(residual, mask) = sum(abs2, residual .* mask) / max(sum(mask), 1.0)

"""
    collocation_loss(objective, θ)

Mean squared PDE residual `rate - dC/dt(C_smooth)` over the collocation field (0 when empty).
"""
function collocation_loss(obj::SOCObjective, θ)
    field = obj.collocation
    m = length(field.times)
    m == 0 && return zero(eltype(θ))
    residuals = map(1:m) do i
        sum(abs2, field.rate[i, :] .- obj.ude(field.soc[i, :], θ, field.times[i]))
    end
    return sum(residuals) / (m * size(field.soc, 2))
end

"""
    (objective::SOCObjective)(θ) -> Real

The training loss `lambda_term * misfit + lambda_coll * collocation + lambda_wd * ||θ||²`.
A failed solve or a non-finite loss returns `PENALTY + 0 * ||θ||²` (zero gradient); every
evaluation is recorded.
"""
function (obj::SOCObjective)(θ)
    times = obj.layout.save_times
    sol = solve_ude(obj.ude, θ, obj.data.initial, times, obj.solver)
    code = @ignore_derivatives status_code(sol, length(times))
    if code == 0
        misfit = masked_mse(Array(sol) .- obj.layout.observed, obj.layout.mask)
        total = obj.lambda_term * misfit + obj.lambda_wd * sum(abs2, θ)
        if obj.lambda_coll != 0
            total += obj.lambda_coll * collocation_loss(obj, θ)
        end
        finite = @ignore_derivatives isfinite(total)
        if finite
            @ignore_derivatives record!(obj.record, 0, sol)
            return total
        end
        code = 2
    end
    @ignore_derivatives record!(obj.record, code, sol)
    return PENALTY + 0 * sum(abs2, θ)
end

"""
    predict_soc(problem, weights, settings) -> NamedTuple

Forward solve of the UDE from `initial` at the problem's `times` with the given flat weights:
`(times, soc, code, num_steps, num_rejected_steps, production, respiration)`, `soc` and the
network rates (% yr-1) of size `nt × nz`.
"""
function predict_soc(problem::AbstractDict, weights::AbstractDict, settings::AbstractDict)
    data = SOCData(problem)
    ude = SOCUDE(data, soc_chain(settings), network_head(settings), input_scaling(data, settings))
    θ = soc_parameters(weights, ude.chain)
    nt, nz = length(data.times), length(data.depth)
    if nt == 1
        soc, code, steps, rejected = reshape(data.initial, 1, :), 0, 0, 0
    else
        sol = solve_ude(ude, θ, data.initial, data.times, solver_settings(settings))
        soc, code = saved_states(sol, nt, nz), status_code(sol, nt)
        steps, rejected = step_counts(sol)
    end
    production, respiration = fill(NaN, nt, nz), fill(NaN, nt, nz)
    for i in 1:nt
        all(isfinite, soc[i, :]) || continue
        p, r = rates(ude, soc[i, :], θ, data.times[i])
        production[i, :] .= p
        respiration[i, :] .= r
    end
    return (times = data.times, soc = soc, code = code, num_steps = steps,
            num_rejected_steps = rejected, production = production, respiration = respiration)
end

"""
    soc_loss(problem, weights, settings) -> NamedTuple

The training loss for the given flat weights: `(total, code)`, `total == PENALTY` when the
solve failed (`code != 0`).
"""
function soc_loss(problem::AbstractDict, weights::AbstractDict, settings::AbstractDict)
    obj = SOCObjective(problem, settings)
    total = obj(soc_parameters(weights, obj.ude.chain))
    return (total = Float64(total), code = obj.record.last_code)
end

"""
    soc_loss_gradient(problem, weights, settings) -> NamedTuple

`(loss, gradient, code)`: the training loss and its gradient through the solver (Zygote with
the configured `sensealg`), the gradient in the flat weight layout (zero after a failure).
"""
function soc_loss_gradient(problem::AbstractDict, weights::AbstractDict, settings::AbstractDict)
    obj = SOCObjective(problem, settings)
    θ = soc_parameters(weights, obj.ude.chain)
    loss, back = Zygote.pullback(obj, θ)
    gradient = as_parameters(first(back(one(loss))), θ)
    return (loss = loss, gradient = flat_weights(gradient), code = obj.record.last_code)
end

"""
    as_parameters(gradient, θ) -> ComponentVector

A Zygote gradient with the layout of `θ` (zero where Zygote returned `nothing`).
"""
function as_parameters(gradient, θ::ComponentVector)
    out = zero(θ)
    gradient === nothing || copyto!(out, gradient)
    return out
end
