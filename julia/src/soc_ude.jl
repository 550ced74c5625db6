# The SOC universal differential equation: data preparation, RHS, forward solve, losses and the
# failure penalty. Mirrors python/soilsciml/models/soc_ude.py (input scaling, target layout,
# collocation field) and engines/jax_ude.py (vector field, loss), so that both engines compute
# the same loss for the same weights.
#
# Problem Dict (Python: fields of `SOCUDEProblem`):
#   depth (nz,), times (nt,) observed times (times[1] starts the solve), initial (nz,),
#   driver_times (ntd,), drivers (ntd, nz, 3) in order ph, cec, clay, targets (nt, nz) with NaN
#   for missing observations, diffusion, advection, boundary, and optionally input_shift and
#   input_scale (6,) (a trained model's scaling; `nothing` to compute it).
# Loss keys (section "loss" of `SOCFitConfig`):
#   loss.target                 "terminal"  terminal | trajectory | initial
#   loss.kind                   "mse"       data misfit (NaN targets masked)
#   loss.lambda_term            1.0         weight of the data misfit
#   loss.lambda_coll            0.0         weight of the collocation term
#   loss.lambda_wd              0.0         weight decay on every weight and bias
#   loss.epsilon_rollout        1.0         rollout length (yr) of target "initial"
#   loss.collocation_bandwidth  1.0         Gaussian kernel width in median time spacings

"""Loss of a failed or non-finite solve (spec section 5, the paper's `safe_solve`)."""
const PENALTY = 1e6

"""
    SOCData(problem)

Typed arrays of an SOC UDE problem from its Dict; `targets` keep Python's `nt × nz` layout with
NaN for missing observations.
"""
struct SOCData
    depth::Vector{Float64}
    times::Vector{Float64}
    initial::Vector{Float64}
    driver_times::Vector{Float64}
    drivers::Array{Float64,3}
    targets::Matrix{Float64}
    diffusion::Float64
    advection::Float64
    boundary::String
    input_shift::Union{Nothing,Vector{Float64}}
    input_scale::Union{Nothing,Vector{Float64}}
end

function SOCData(problem::AbstractDict)
    array(key) = haskey(problem, key) ? Array{Float64}(problem[key]) :
                 throw(ArgumentError("SOC problem lacks $key"))
    optional(key) = get(problem, key, nothing) === nothing ? nothing : Vector{Float64}(vec(problem[key]))
    depth, times, initial = array("depth"), array("times"), array("initial")
    driver_times, drivers, targets = array("driver_times"), array("drivers"), array("targets")
    nz, nt = length(depth), length(times)
    issorted(times; lt = <=) || throw(ArgumentError("times must increase strictly"))
    length(initial) == nz || throw(ArgumentError("initial must have $nz nodes"))
    size(drivers) == (length(driver_times), nz, 3) ||
        throw(ArgumentError("drivers must have shape ($(length(driver_times)), $nz, 3); got $(size(drivers))"))
    size(targets) == (nt, nz) || throw(ArgumentError("targets must have shape ($nt, $nz)"))
    return SOCData(depth, times, initial, driver_times, drivers, targets,
                   setting(problem, "diffusion", 1e-3), setting(problem, "advection", 1e-3),
                   setting(problem, "boundary", "mirror"), optional("input_shift"),
                   optional("input_scale"))
end

"""Indices of the observed times that hold at least one finite target."""
observed_rows(data::SOCData) = findall(i -> any(isfinite, data.targets[i, :]), eachindex(data.times))

"""
    input_scaling(data, settings) -> InputScaling

The problem's `input_shift` / `input_scale` when given; else `network.input_scaling`:
`paper` (pH/7, OC, CEC, Clay/30, z, t/t_end with t_end the last observed time, 1 when it is
0) or `standardise` (population mean and standard deviation of the drivers, finite targets,
depths and times; a constant input keeps unit scale).
"""
function input_scaling(data::SOCData, settings::AbstractDict)
    if data.input_shift !== nothing && data.input_scale !== nothing
        return InputScaling(data.input_shift, data.input_scale)
    end
    name = setting(settings, "network.input_scaling", "paper")
    if name == "paper"
        rows = observed_rows(data)
        t_end = isempty(rows) ? data.times[end] : data.times[last(rows)]
        return paper_scaling(t_end == 0 ? 1.0 : t_end)
    elseif name == "standardise"
        columns = (vec(data.drivers[:, :, 1]), filter(isfinite, vec(data.targets)),
                   vec(data.drivers[:, :, 2]), vec(data.drivers[:, :, 3]), data.depth, data.times)
        return standard_scaling(columns)
    end
    throw(ArgumentError("setting network.input_scaling must be paper or standardise; got $name"))
end

"""
    TargetLayout(save_times, observed, mask)

Where the solve saves (`save_times[1]` the start) and what it is compared with: `observed`
and the 0/1 `mask` are `nz × ns`, like the solver output.
"""
struct TargetLayout
    save_times::Vector{Float64}
    observed::Matrix{Float64}
    mask::Matrix{Float64}
end

function TargetLayout(save_times::AbstractVector, rows::AbstractMatrix)
    finite = isfinite.(rows)
    return TargetLayout(Vector{Float64}(save_times), permutedims(ifelse.(finite, rows, 0.0)),
                        permutedims(Float64.(finite)))
end

"""
    target_layout(data, settings) -> TargetLayout

`loss.target = "terminal"`: the last observed profile; `"trajectory"`: every observed time
after the start (the initial profile carries no information about P and R); `"initial"`: the
profile after a rollout of `loss.epsilon_rollout` years from the initial profile is compared
with the observed initial profile.
"""
function target_layout(data::SOCData, settings::AbstractDict)
    target = setting(settings, "loss.target", "terminal")
    rows = observed_rows(data)
    blank = fill(NaN, 1, length(data.initial))
    if target == "terminal" || target == "trajectory"
        (isempty(rows) || last(rows) == 1) &&
            throw(ArgumentError("loss.target=$target needs an observed profile after the first time"))
        target == "terminal" &&
            return TargetLayout(data.times[[1, last(rows)]], vcat(blank, data.targets[last(rows):last(rows), :]))
        return TargetLayout(data.times, vcat(blank, data.targets[2:end, :]))
    elseif target == "initial"
        t0 = data.times[1]
        return TargetLayout([t0, t0 + setting(settings, "loss.epsilon_rollout", 1.0)],
                            vcat(blank, data.targets[1:1, :]))
    end
    throw(ArgumentError("setting loss.target must be terminal, trajectory or initial; got $target"))
end

"""
    CollocationField(times, soc, rate)

A smoothed estimate of the observed field (`m × nz`, %) and its time derivative (% yr-1) at
the `m` observed times; empty when fewer than two times are observed.
"""
struct CollocationField
    times::Vector{Float64}
    soc::Matrix{Float64}
    rate::Matrix{Float64}
end

"""
    time_gradient(values, times) -> Matrix

`numpy.gradient(values, times, axis=0)`: second-order central differences on a non-uniform
grid inside, first-order one-sided differences at both ends.
"""
function time_gradient(values::AbstractMatrix, times::AbstractVector)
    m = length(times)
    rate = similar(values, Float64)
    rate[1, :] .= (values[2, :] .- values[1, :]) ./ (times[2] - times[1])
    rate[m, :] .= (values[m, :] .- values[m - 1, :]) ./ (times[m] - times[m - 1])
    for i in 2:(m - 1)
        hs, hd = times[i] - times[i - 1], times[i + 1] - times[i]
        rate[i, :] .= (hs^2 .* values[i + 1, :] .+ (hd^2 - hs^2) .* values[i, :] .-
                       hd^2 .* values[i - 1, :]) ./ (hs * hd * (hd + hs))
    end
    return rate
end

"""
    collocation_field(data, settings) -> CollocationField

Local-linear regression in time with a Gaussian kernel of width `loss.collocation_bandwidth`
times the median spacing of the observed times (NaN observations get zero weight), then
`time_gradient`. Identical to Python's `soilsciml.models.soc_ude.collocation_field`.
"""
function collocation_field(data::SOCData, settings::AbstractDict)
    rows = observed_rows(data)
    nz = length(data.initial)
    length(rows) < 2 && return CollocationField(Float64[], zeros(0, nz), zeros(0, nz))
    times = data.times[rows]
    values = data.targets[rows, :]
    mask = Float64.(isfinite.(values))
    values = ifelse.(mask .> 0, values, 0.0)
    bandwidth = setting(settings, "loss.collocation_bandwidth", 1.0) * median(diff(times))
    m = length(times)
    smooth = zeros(m, nz)
    for i in 1:m, k in 1:nz
        s0 = s1 = s2 = t0 = t1 = 0.0
        for j in 1:m
            offset = times[j] - times[i]
            weight = exp(-0.5 * (offset / bandwidth)^2) * mask[j, k]
            s0 += weight
            s1 += weight * offset
            s2 += weight * offset^2
            t0 += weight * values[j, k]
            t1 += weight * offset * values[j, k]
        end
        determinant = s0 * s2 - s1^2
        smooth[i, k] = determinant > 1e-12 * max(s0 * s2, 1e-300) ?
                       (s2 * t0 - s1 * t1) / determinant : t0 / max(s0, 1e-300)
    end
    return CollocationField(times, smooth, time_gradient(smooth, times))
end

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

Loss evaluations of one objective: count, failed solves, summed accepted and rejected steps,
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
    accepted, rejected = accepted_steps(sol)
    r.evaluations += 1
    r.failed += code != 0
    r.num_steps += accepted
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
        total = obj.lambda_term * misfit + obj.lambda_coll * collocation_loss(obj, θ) +
                obj.lambda_wd * sum(abs2, θ)
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
        soc, code, accepted, rejected = reshape(data.initial, 1, :), 0, 0, 0
    else
        sol = solve_ude(ude, θ, data.initial, data.times, solver_settings(settings))
        soc, code = saved_states(sol, nt, nz), status_code(sol, nt)
        accepted, rejected = accepted_steps(sol)
    end
    production, respiration = fill(NaN, nt, nz), fill(NaN, nt, nz)
    for i in 1:nt
        all(isfinite, soc[i, :]) || continue
        p, r = rates(ude, soc[i, :], θ, data.times[i])
        production[i, :] .= p
        respiration[i, :] .= r
    end
    return (times = data.times, soc = soc, code = code, num_steps = accepted,
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
