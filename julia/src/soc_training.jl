# Training of the SOC UDE: Adam then BFGS through the solver (spec section 6), early stopping on
# the loss, failures counted.
#
# Keys read (sections "optimiser" and top level of the SOC fit config):
#   optimiser.adam_steps             200    Adam iterations (0 skips Adam)
#   optimiser.learning_rate          3e-3   Adam learning rate
#   optimiser.bfgs_steps             400    BFGS iterations (0 skips BFGS)
#   optimiser.bfgs_initial_stepnorm  0.01   Optim.jl BFGS initial step norm
#   optimiser.patience               50     stop a stage after this many steps without a
#                                           relative improvement of min_improvement (0: never)
#   optimiser.min_improvement        1e-6
#   seed                             0      network initialisation when no weights are given
# plus every key of soc_ude.jl, soc_network.jl and settings.jl.

"""
    TrainingMonitor(patience, min_improvement)

Callback state shared by both stages: loss history, wall-clock times of each step (s since the
start), best loss and parameters, and steps since the last improvement.
"""
mutable struct TrainingMonitor{P}
    patience::Int
    min_improvement::Float64
    start_ns::UInt64
    history::Vector{Float64}
    step_seconds::Vector{Float64}
    best_loss::Float64
    best::P
    stale::Int
end

TrainingMonitor(patience::Integer, min_improvement::Real, θ) =
    TrainingMonitor(Int(patience), Float64(min_improvement), time_ns(), Float64[], Float64[],
                    Inf, copy(θ), 0)

"""
    (monitor::TrainingMonitor)(state, loss) -> Bool

Optimization.jl callback: record the step and return `true` to stop the current stage early.
"""
function (m::TrainingMonitor)(state, loss)
    push!(m.history, loss)
    push!(m.step_seconds, (time_ns() - m.start_ns) / 1e9)
    if loss < m.best_loss * (1 - m.min_improvement)
        m.best_loss = loss
        m.best .= state.u
        m.stale = 0
    else
        m.stale += 1
    end
    return m.patience > 0 && m.stale >= m.patience
end

"""
    run_stage(optf, θ, optimiser, steps, monitor) -> Int

Run one optimisation stage from `θ` for at most `steps` iterations; the number of recorded
steps. The monitor resets its patience counter first.
"""
function run_stage(optf, θ, optimiser, steps::Integer, monitor::TrainingMonitor)
    steps > 0 || return 0
    monitor.stale = 0
    before = length(monitor.history)
    Optimization.solve(OptimizationProblem(optf, θ), optimiser; maxiters = steps,
                       callback = monitor)
    return length(monitor.history) - before
end

"""
    fit_soc(problem, settings, weights = nothing) -> NamedTuple

Train NN_P and NN_R on an SOC problem: Adam (`optimiser.learning_rate`) then BFGS, gradients
through the solver with the configured `sensealg` (default: the paper's
`InterpolatingAdjoint(autojacvec = ZygoteVJP())`). Starts from the flat `weights` when given,
else from Lux's initialisation with `seed`. The best parameters seen are returned.

# Returns
`(weights, loss_history, step_seconds, adam_steps, bfgs_steps, n_failures, final_loss,
 prediction)`: flat weights, the loss at every step, wall-clock seconds since the start at every
step (the first entry includes compilation), steps taken per stage, failed solves, the best
loss, and `predict_soc` with the best weights.
"""
function fit_soc(problem::AbstractDict, settings::AbstractDict, weights = nothing)
    obj = SOCObjective(problem, settings)
    θ0 = weights === nothing ? initial_parameters(obj.ude.chain, setting(settings, "seed", 0)) :
         soc_parameters(weights, obj.ude.chain)
    monitor = TrainingMonitor(setting(settings, "optimiser.patience", 50),
                              setting(settings, "optimiser.min_improvement", 1e-6), θ0)
    optf = OptimizationFunction((θ, _) -> obj(θ), Optimization.AutoZygote())
    adam = OptimizationOptimisers.Adam(setting(settings, "optimiser.learning_rate", 3e-3))
    adam_steps = run_stage(optf, θ0, adam, setting(settings, "optimiser.adam_steps", 200), monitor)
    bfgs = OptimizationOptimJL.BFGS(;
        initial_stepnorm = setting(settings, "optimiser.bfgs_initial_stepnorm", 0.01))
    θ_adam = copy(monitor.best)
    bfgs_steps = run_stage(optf, θ_adam, bfgs, setting(settings, "optimiser.bfgs_steps", 400), monitor)
    best = flat_weights(monitor.best)
    return (weights = best, loss_history = monitor.history, step_seconds = monitor.step_seconds,
            adam_steps = adam_steps, bfgs_steps = bfgs_steps, n_failures = obj.failures[],
            final_loss = monitor.best_loss, prediction = predict_soc(problem, best, settings))
end
