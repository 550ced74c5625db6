# Training of the SOC UDE: Adam, then BFGS or L-BFGS, through the solver (docs/science/soc-ude.md#soc-training), with
# early stopping on the loss and every failed solve counted. Mirrors engines/jax_train.py.
#
# Keys read (section "train" of `SOCFitConfig`):
#   train.adam_iters    200     Adam iterations (0 skips the stage)
#   train.lr            3e-3    Adam learning rate
#   train.second_stage  "bfgs"  bfgs | lbfgs | none
#   train.second_iters  400     iterations of the second stage
#   train.patience      50      stop a stage after this many iterations without a relative
#   train.min_delta     0.0     improvement of the best loss by more than min_delta
#   train.seed          0       network initialisation when no weights are given
# plus the keys of soc_ude.jl, soc_network.jl and settings.jl.

"""Second-stage optimisers (Optim.jl's, solved through OptimizationOptimJL) by `train.second_stage`."""
const SECOND_STAGES = Dict{String,Any}("bfgs" => BFGS, "lbfgs" => LBFGS)

"""
    EarlyStopping(patience, min_delta, θ, start)

Optimization.jl callback state of one stage: the loss history, wall-clock seconds since
`start` (a `time_ns()` value) at each iteration, the best loss and parameters, iterations since
the last improvement, and whether the stage was stopped early.
"""
mutable struct EarlyStopping{P}
    patience::Int
    min_delta::Float64
    start::UInt64
    history::Vector{Float64}
    seconds::Vector{Float64}
    best_loss::Float64
    best::P
    waited::Int
    stopped::Bool
end

EarlyStopping(patience::Integer, min_delta::Real, θ, start::UInt64) =
    EarlyStopping(Int(patience), Float64(min_delta), start, Float64[], Float64[], Inf, copy(θ), 0,
                  false)

"""
    (stopper::EarlyStopping)(state, loss) -> Bool

Record the iteration; `true` (stop the stage) after `patience` iterations without a relative
improvement of the best loss by more than `min_delta`.
"""
function (s::EarlyStopping)(state, loss)
    push!(s.history, loss)
    push!(s.seconds, (time_ns() - s.start) / 1e9)
    if isinf(s.best_loss) || loss < s.best_loss - s.min_delta * abs(s.best_loss)
        s.best_loss = loss
        s.best .= state.u
        s.waited = 0
    else
        s.waited += 1
    end
    s.stopped = s.waited >= s.patience
    return s.stopped
end

"""
    run_stage(optf, θ, optimiser, iterations, settings, start; options...) -> (stopper, stop_reason)

Run one optimisation stage from `θ` for at most `iterations` iterations, passing `options` on
to the optimiser. The stop reason is `early_stopping`, `budget` (all iterations used) or
`converged` (the optimiser ended sooner).
"""
function run_stage(optf, θ, optimiser, iterations::Integer, settings::AbstractDict,
                   start::UInt64; options...)
    stopper = EarlyStopping(setting(settings, "train.patience", 50),
                            setting(settings, "train.min_delta", 0.0), θ, start)
    Optimization.solve(OptimizationProblem(optf, θ), optimiser; maxiters = iterations,
                       callback = stopper, options...)
    reason = stopper.stopped ? "early_stopping" :
             length(stopper.history) >= iterations ? "budget" : "converged"
    return stopper, reason
end

"""
    fit_soc(problem, settings, weights = nothing) -> NamedTuple

Train NN_P and NN_R: Adam (`train.lr`), then `train.second_stage`, gradients through the
solver with the configured `sensealg` (default: the paper's
`InterpolatingAdjoint(autojacvec = ZygoteVJP())`). Starts from the flat `weights` when given,
else from `initial_weights` with `train.seed`; each stage continues from the best parameters
of the one before.

# Returns
`(weights, history, step_seconds, stop_reasons, code, n_failed, loss_evaluations, num_steps,
 num_rejected_steps, final_loss)`: the best flat weights, the loss at every iteration per stage
(`Dict` stage => vector), wall-clock seconds since the start at every iteration (the first
includes compilation), why each stage ended, the status of the final evaluation, failed solves
and the counts of every loss evaluation, and the loss of the returned weights.
"""
function fit_soc(problem::AbstractDict, settings::AbstractDict, weights = nothing)
    obj = SOCObjective(problem, settings)
    chain = obj.ude.chain
    start = time_ns()
    θ = soc_parameters(weights === nothing ?
                       initial_weights(chain, setting(settings, "train.seed", 0)) : weights,
                       chain)
    optf = OptimizationFunction((θ, _) -> obj(θ), Optimization.AutoZygote())
    # OptimizationOptimisers calls the callback once more on its last iteration when
    # `save_best = true` (its default), which would record that iteration twice; the best
    # parameters are kept by `EarlyStopping` instead.
    stages = Tuple{String,Int,Any,NamedTuple}[("adam", setting(settings, "train.adam_iters", 200),
                                               Adam(setting(settings, "train.lr", 3e-3)),
                                               (save_best = false,))]
    second = setting(settings, "train.second_stage", "bfgs")
    if second != "none"
        optimiser = choice(SECOND_STAGES, second, "train.second_stage")()
        push!(stages, (second, setting(settings, "train.second_iters", 400), optimiser, (;)))
    end
    history = Dict{String,Vector{Float64}}()
    stop_reasons = Dict{String,String}()
    step_seconds = Float64[]
    for (name, iterations, optimiser, options) in stages
        iterations > 0 || continue
        stopper, reason = run_stage(optf, θ, optimiser, iterations, settings, start; options...)
        append!(step_seconds, stopper.seconds)
        θ = copy(stopper.best)
        history[name] = stopper.history
        stop_reasons[name] = reason
    end
    final_loss = obj(θ)
    r = obj.record
    return (weights = flat_weights(θ), history = history, step_seconds = step_seconds,
            stop_reasons = stop_reasons, code = r.last_code, n_failed = r.failed,
            loss_evaluations = r.evaluations, num_steps = r.num_steps,
            num_rejected_steps = r.num_rejected_steps, final_loss = Float64(final_loss))
end
