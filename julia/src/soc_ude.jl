# The SOC universal differential equation: RHS, forward solve, losses and failure penalty.
#
# Problem Dict (Python: fields of `SOCUDEProblem`):
#   depth (nz,), times (nt,) observed times (times[1] starts the solve), initial (nz,),
#   driver_times (ntd,), drivers (ntd, nz, 3) in order ph, cec, clay, targets (nt, nz) NaN
#   allowed, diffusion, advection, boundary.
# Loss keys (section "loss" of the SOC fit config):
#   loss.lambda_term  1.0   weight of the terminal MSE (last observed time)
#   loss.lambda_traj  0.0   weight of the trajectory MSE (all observed times)
#   loss.lambda_coll  0.0   collocation weight: not implemented here, must be 0
#   loss.lambda_wd    0.0   weight decay on every weight and bias
#   loss.penalty      1e6   loss of a failed solve (with zero gradient)

"""
    SOCData(problem)

Typed arrays of an SOC training problem from its Dict; targets are stored `nz × nt` to match
the solver output, with NaN replaced by 0 and a 0/1 mask.
"""
struct SOCData
    depth::Vector{Float64}
    times::Vector{Float64}
    initial::Vector{Float64}
    driver_times::Vector{Float64}
    drivers::Array{Float64,3}
    targets::Matrix{Float64}
    mask::Matrix{Float64}
    diffusion::Float64
    advection::Float64
    boundary::String
end

function SOCData(problem::AbstractDict)
    array(key) = haskey(problem, key) ? Array{Float64}(problem[key]) :
                 throw(ArgumentError("SOC problem lacks $key"))
    depth, times, initial = array("depth"), array("times"), array("initial")
    driver_times, drivers, targets = array("driver_times"), array("drivers"), array("targets")
    nz, nt = length(depth), length(times)
    nt >= 2 || throw(ArgumentError("times needs at least 2 entries (start and one observation)"))
    issorted(times; lt = <=) || throw(ArgumentError("times must increase strictly"))
    length(initial) == nz || throw(ArgumentError("initial must have $nz nodes"))
    size(drivers) == (length(driver_times), nz, 3) ||
        throw(ArgumentError("drivers must have shape ($(length(driver_times)), $nz, 3); got $(size(drivers))"))
    size(targets) == (nt, nz) || throw(ArgumentError("targets must have shape ($nt, $nz)"))
    observed = permutedims(.!isnan.(targets))
    any(observed) || throw(ArgumentError("targets hold no observation"))
    return SOCData(depth, times, initial, driver_times, drivers,
                   permutedims(replace(targets, NaN => 0.0)), Float64.(observed),
                   setting(problem, "diffusion", 1e-3), setting(problem, "advection", 1e-3),
                   setting(problem, "boundary", "mirror"))
end

"""
    input_scaling(data, settings) -> InputScaling

`network.scaling = "paper"` (t_end = last observed time, 1 when it is 0) or `"standardise"`
(given `network.input_mean` / `network.input_std`, else computed from the training data).
"""
function input_scaling(data::SOCData, settings::AbstractDict)
    name = setting(settings, "network.scaling", "paper")
    if name == "paper"
        t_end = data.times[end] == 0 ? 1.0 : data.times[end]
        return paper_scaling(t_end)
    elseif name == "standardise"
        network = get(settings, "network", Dict{String,Any}())
        if haskey(network, "input_mean") && haskey(network, "input_std")
            return InputScaling(Vector{Float64}(network["input_mean"]),
                                Vector{Float64}(network["input_std"]))
        end
        observed = data.targets[data.mask .> 0]
        return standard_scaling((vec(data.drivers[:, :, 1]), observed, vec(data.drivers[:, :, 2]),
                                 vec(data.drivers[:, :, 3]), data.depth, data.times))
    end
    throw(ArgumentError("setting network.scaling must be paper or standardise; got $name"))
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
    columns = (1, 3, 4)  # drivers hold ph, cec, clay: network inputs 1, 3 and 4
    driver_inputs = similar(data.drivers)
    for (k, i) in enumerate(columns)
        driver_inputs[:, :, k] .= (data.drivers[:, :, k] .- scaling.shift[i]) ./ scaling.scale[i]
    end
    depth_input = (data.depth .- scaling.shift[5]) ./ scaling.scale[5]
    return SOCUDE(transport, chain, head, state, data.driver_times, driver_inputs, depth_input, scaling)
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
    SOCObjective(data, ude, solver, lambdas, penalty)

Everything a loss evaluation needs; `failures` counts failed solves (never hidden).
"""
struct SOCObjective{U<:SOCUDE,S<:SolverSettings}
    data::SOCData
    ude::U
    solver::S
    lambda_term::Float64
    lambda_traj::Float64
    lambda_wd::Float64
    penalty::Float64
    failures::Base.RefValue{Int}
end

"""
    SOCObjective(problem, settings)

Build the data, network and solver of an SOC training problem from its Dicts.
"""
function SOCObjective(problem::AbstractDict, settings::AbstractDict)
    setting(settings, "loss.lambda_coll", 0.0) == 0 ||
        throw(ArgumentError("setting loss.lambda_coll must be 0: the Julia engine has no collocation term"))
    data = SOCData(problem)
    ude = SOCUDE(data, soc_chain(settings), network_head(settings), input_scaling(data, settings))
    return SOCObjective(data, ude, solver_settings(settings),
                        setting(settings, "loss.lambda_term", 1.0),
                        setting(settings, "loss.lambda_traj", 0.0),
                        setting(settings, "loss.lambda_wd", 0.0),
                        setting(settings, "loss.penalty", 1e6), Ref(0))
end

"""
    solve_ude(objective, θ)

The forward solve saved at the observed times, with the configured sensitivity algorithm.
"""
function solve_ude(obj::SOCObjective, θ)
    times = obj.data.times
    problem = ODEProblem{false}(obj.ude, obj.data.initial, (times[1], times[end]), θ)
    s = obj.solver
    return solve(problem, s.algorithm; saveat = times, reltol = s.rtol, abstol = s.atol,
                 maxiters = s.maxiters, sensealg = s.sensealg)
end

"""
    masked_mse(residual, mask)

Mean of squared residuals where `mask` is 1; 0 when nothing is observed.
"""
masked_mse(residual, mask) = sum(abs2, residual .* mask) / max(sum(mask), 1.0)

"""
    loss_terms(objective, prediction, θ) -> NamedTuple

Terminal MSE, trajectory MSE, weight decay and their weighted total for an `nz × nt`
prediction.
"""
function loss_terms(obj::SOCObjective, prediction::AbstractMatrix, θ)
    residual = prediction .- obj.data.targets
    terminal = masked_mse(residual[:, end], obj.data.mask[:, end])
    trajectory = masked_mse(residual, obj.data.mask)
    decay = sum(abs2, θ)
    total = obj.lambda_term * terminal + obj.lambda_traj * trajectory + obj.lambda_wd * decay
    return (total = total, terminal = terminal, trajectory = trajectory, weight_decay = decay)
end

"""
    (objective::SOCObjective)(θ) -> Real

The training loss; a failed solve returns `penalty + 0 * ||θ||²` (zero gradient) and is counted.
"""
function (obj::SOCObjective)(θ)
    sol = solve_ude(obj, θ)
    if !successful_retcode(sol) || length(sol.t) != length(obj.data.times)
        @ignore_derivatives obj.failures[] += 1
        return obj.penalty + 0 * sum(abs2, θ)
    end
    return loss_terms(obj, Array(sol), θ).total
end

"""
    predict_soc(problem, weights, settings) -> NamedTuple

Forward solve of the UDE with the given flat weights: `(times, soc, code, num_steps,
num_rejected_steps, production, respiration)`, `soc` of size `nt × nz` in %, and the network
rates at the observed times, `nt × nz` in % yr-1.
"""
function predict_soc(problem::AbstractDict, weights::AbstractDict, settings::AbstractDict)
    obj = SOCObjective(problem, settings)
    θ = soc_parameters(weights, obj.ude.chain)
    sol = solve_ude(obj, θ)
    times = obj.data.times
    nt, nz = length(times), length(obj.data.depth)
    soc = saved_states(sol, nt, nz)
    production, respiration = fill(NaN, nt, nz), fill(NaN, nt, nz)
    for i in 1:nt
        all(isfinite, soc[i, :]) || continue
        p, r = rates(obj.ude, soc[i, :], θ, times[i])
        production[i, :] .= p
        respiration[i, :] .= r
    end
    accepted, rejected = accepted_steps(sol)
    return (times = times, soc = soc, code = status_code(sol, nt), num_steps = accepted,
            num_rejected_steps = rejected, production = production, respiration = respiration)
end

"""
    soc_loss(problem, weights, settings) -> NamedTuple

The total training loss for the given flat weights and its terms:
`(total, terminal, trajectory, weight_decay, failed)`.
"""
function soc_loss(problem::AbstractDict, weights::AbstractDict, settings::AbstractDict)
    obj = SOCObjective(problem, settings)
    θ = soc_parameters(weights, obj.ude.chain)
    sol = solve_ude(obj, θ)
    if status_code(sol, length(obj.data.times)) != 0
        return (total = obj.penalty, terminal = NaN, trajectory = NaN,
                weight_decay = sum(abs2, θ), failed = true)
    end
    return (; loss_terms(obj, Array(sol), θ)..., failed = false)
end

"""
    soc_loss_gradient(problem, weights, settings) -> NamedTuple

`(loss, gradient)`: the training loss and its gradient through the solver (Zygote with the
configured `sensealg`), the gradient in the flat weight layout.
"""
function soc_loss_gradient(problem::AbstractDict, weights::AbstractDict, settings::AbstractDict)
    obj = SOCObjective(problem, settings)
    θ = soc_parameters(weights, obj.ude.chain)
    loss, back = Zygote.pullback(obj, θ)
    return (loss = loss, gradient = flat_weights(as_parameters(first(back(one(loss))), θ)))
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
