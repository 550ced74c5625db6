# HySoMi training objectives (spec hysomi.md sections 4 and 6), mirroring Python's
# `engines.jax.hysomi_loss` and the loss of `engines.jax.hysomi_train`: a compared model's
# objective is a vector of loss terms (each a mean over the batch's solved samples), a
# weighting turns it into one scalar.
#
# Settings keys read (`HySoMiTrainConfig`): model ("hysomi"), loss_weighting ("adaptive"),
# width, depth, batch_size, constraints.temperature (0.01), solver.*, physics.*, sensealg.
# Data keys read: times (nt,) h, initial (6,) mg C/g, lower and upper (13,) the parameter box,
# constraints (the constraint table, see hysomi_constraints.jl; read for every model with a PBM:
# the `hysomi` loss terms and, for all of them, the selection terms of `selection_terms`).

"""Decay of the running term magnitudes of the `normalised` weighting (per step)."""
const RUNNING_DECAY = 0.9

"""Smallest running magnitude divided by (a term that has always been zero stays zero)."""
const MAGNITUDE_FLOOR = 1e-12

"""Smallest trait standard deviation and CO2 scale used to standardise (constant columns)."""
const SCALE_FLOOR = 1e-12

"""`data[key]`, or an `ArgumentError` naming the missing key."""
required(data::AbstractDict, key::AbstractString) =
    haskey(data, key) ? data[key] : throw(ArgumentError("HySoMi data lacks $key"))

"""Mean squared error of the CO2 series (row 6) of two `6 × nt` trajectories, (mg C/g)^2."""
mse_co2(S, target) = mean(abs2, S[6, :] .- target[6, :])

"""`hysomi`: CO2 MSE and one soft violation per constraint."""
constrained_terms(S, target, θ, model) =
    vcat(mse_co2(S, target), soft_violations(model.constraints, S, model.pbm.times, θ,
                                             model.temperature))

"""`unconstrained`: CO2 MSE only."""
co2_terms(S, target, θ, model) = [mse_co2(S, target)]

"""`all_states`: MSE over all six pools and every output time."""
all_states_terms(S, target, θ, model) = [mean(abs2, S .- target)]

"""
Selection terms of one trajectory, whatever the model's objective: the CO2 MSE, then one soft
violation per constraint of the configured table (Python's `_terms` in `hysomi_train`).
"""
selection_terms(S, target, θ, model) =
    vcat(mse_co2(S, target), soft_violations(model.selection_constraints, S, model.pbm.times, θ,
                                             model.temperature))

"""The model's loss terms followed by its selection terms, from one trajectory."""
evaluation_objective(S, target, θ, model) =
    vcat(model.kind.objective(S, target, θ, model), selection_terms(S, target, θ, model))

"""A compared model that predicts PBM parameters; `objective` gives its terms per sample."""
struct PBMKind{O}
    objective::O
end

"""The `ml` baseline: traits -> CO2 series directly, no PBM."""
struct MLKind end

"""Compared models by the names of `soilsciml.config.HYSOMI_MODELS`."""
const MODEL_KINDS = Dict{String,Any}(
    "hysomi" => PBMKind(constrained_terms),
    "unconstrained" => PBMKind(co2_terms),
    "all_states" => PBMKind(all_states_terms),
    "ml" => MLKind(),
)

"""Uncertainty weighting: `sum_k terms_k / (2 s_k^2) + ln(1 + s_k^2)` (docs/science/hysomi.md#hysomi-loss)."""
adaptive(terms, scales, running) =
    (sum(terms ./ (2 .* scales .^ 2) .+ log1p.(scales .^ 2)), running)

"""All weights 1: the plain sum of the terms."""
balanced(terms, scales, running) = (sum(terms), running)

"""
Each term over its running magnitude (no derivative through the magnitude), summed. A zero
running magnitude means "none yet": the first step takes the terms' own values.
"""
function normalised(terms, scales, running)
    updated = @ignore_derivatives running_magnitudes(running, terms)
    return sum(terms ./ max.(updated, MAGNITUDE_FLOOR)), updated
end

running_magnitudes(running, terms) =
    ifelse.(running .> 0, RUNNING_DECAY .* running .+ (1 - RUNNING_DECAY) .* terms, terms)

"""Weightings by the names of `soilsciml.config.LOSS_WEIGHTINGS`."""
const WEIGHTINGS = Dict{String,Any}("adaptive" => adaptive, "balanced" => balanced,
                                    "normalised" => normalised)

"""Names of the loss terms of `name`, in order (Python's `term_names`)."""
function term_names(name::AbstractString, constraints::AbstractVector{Constraint})
    name == "hysomi" && return ["mse_co2"; [c.label for c in constraints]]
    return name == "all_states" ? ["mse_all_states"] : ["mse_co2"]
end

"""
    HySoMiModel(data, settings, n_traits)

Everything a loss evaluation needs apart from the trainable parameters: the compared model's
kind and weighting (the one-term models sum), the trait network, the PBM solver, the initial
pools, the parameter box, the constraints of the loss (`hysomi` only) and of the selection
terms (every PBM model), their temperature, and the term names.
"""
struct HySoMiModel{K,W,N<:TraitNetwork,P<:PBMSolver}
    name::String
    kind::K
    weighting::W
    network::N
    pbm::P
    initial::Vector{Float64}
    lower::Vector{Float64}
    span::Vector{Float64}
    constraints::Vector{Constraint}
    selection_constraints::Vector{Constraint}
    temperature::Float64
    term_names::Vector{String}
    batch_size::Int
end

function HySoMiModel(data::AbstractDict, settings::AbstractDict, n_traits::Integer)
    name = setting(settings, "model", "hysomi")
    kind = choice(MODEL_KINDS, name, "model")
    weighting_name = name == "hysomi" ? setting(settings, "loss_weighting", "adaptive") : "balanced"
    weighting = choice(WEIGHTINGS, weighting_name, "loss_weighting")
    vector(key, n) = flat_array(data, key, (n,))
    times = Vector{Float64}(vec(required(data, "times")))
    n_out = kind isa MLKind ? length(times) : length(PBM_PARAMETERS)
    network = trait_network(n_traits, n_out, setting(settings, "width", 64),
                            setting(settings, "depth", 5))
    pbm = PBMSolver(from_settings(Sorption, settings, "physics"), times, solver_settings(settings))
    lower, upper = vector("lower", length(PBM_PARAMETERS)), vector("upper", length(PBM_PARAMETERS))
    all(upper .> lower) || throw(ArgumentError("the parameter box needs upper > lower"))
    table = kind isa MLKind ? Constraint[] : constraint_table(required(data, "constraints"))
    constraints = name == "hysomi" ? table : Constraint[]
    batch_size = setting(settings, "batch_size", 256)
    batch_size >= 1 || throw(ArgumentError("batch_size must be >= 1; got $batch_size"))
    return HySoMiModel(name, kind, weighting, network, pbm, vector("initial", length(PBM_STATES)),
                       lower, upper .- lower, constraints, table,
                       setting(settings, "constraints.temperature", 0.01),
                       term_names(name, constraints), batch_size)
end

"""
    Standardisation(traits, states)

Trait mean and population standard deviation of the training samples (`n × n_traits`), and
the mean CO2 series and the CO2 standard deviation (`states` `n × nt × 6`) that map the `ml`
network's outputs to mg C/g.
"""
struct Standardisation
    trait_mean::Vector{Float64}
    trait_std::Vector{Float64}
    co2_mean::Vector{Float64}
    co2_scale::Float64
end

function Standardisation(traits::AbstractMatrix, states::AbstractArray{<:Real,3})
    co2 = states[:, :, 6]
    return Standardisation(vec(mean(traits; dims = 1)),
                           max.(vec(std(traits; dims = 1, corrected = false)), SCALE_FLOOR),
                           vec(mean(co2; dims = 1)), max(std(co2; corrected = false), SCALE_FLOOR))
end

"""Standardised traits `n × n_traits` as network inputs `n_traits × n`."""
network_inputs(s::Standardisation, traits::AbstractMatrix) =
    permutedims((traits .- s.trait_mean') ./ s.trait_std')

"""Raw network outputs (`13 × n`) mapped into the box: `lower + (upper - lower) * sigmoid`."""
to_box(model::HySoMiModel, raw) = model.lower .+ model.span .* logistic.(raw)

"""
    sample_terms(model, θ, target[, objective, n_terms]) -> (terms, code)

One sample's loss terms (`objective`, the model's by default, giving `n_terms` values) from
its parameters `θ` (13) and its target trajectory (`6 × nt`). A failed solve gives zero terms
and its code; its solution is then not on the path to the loss, so its adjoint is never run.
"""
function sample_terms(model::HySoMiModel, θ, target, objective = model.kind.objective,
                      n_terms = length(model.term_names))
    sol = solve_sample(model.pbm, θ, model.initial)
    code = @ignore_derivatives status_code(sol, length(model.pbm.times))
    code == 0 || return zeros(n_terms), code
    return objective(Array(sol), target, θ, model), code
end

"""
    kind_terms(kind, model, out, mask, targets, standardisation[, objective, n_terms])
        -> (terms, n_failed)

Loss terms (`objective` of `sample_terms`; `ml` has one) of a batch from the network outputs
`out` (`n_out × n`): the mean over the real (`mask` 1) samples whose solve succeeded, and the
number of real samples whose solve failed. Padded samples are not solved.
"""
function kind_terms(::PBMKind, model, out, mask, targets, standardisation,
                    objective = model.kind.objective, n_terms = length(model.term_names))
    params = to_box(model, out)
    real = @ignore_derivatives findall(>(0), mask)
    results = map(i -> sample_terms(model, params[:, i], targets[i], objective, n_terms), real)
    solved = @ignore_derivatives [Float64(last(r) == 0) for r in results]
    weights = solved ./ max(sum(solved), 1)
    return hcat(map(first, results)...) * weights, count(iszero, solved)
end

function kind_terms(::MLKind, model, out, mask, targets, standardisation)
    co2 = standardisation.co2_mean .+ standardisation.co2_scale .* out
    errors = map(i -> mean(abs2, co2[:, i] .- targets[i][6, :]), eachindex(targets))
    return [sum(errors .* mask) / max(sum(mask), 1)], 0
end

"""
    evaluation_terms(kind, model, out, mask, targets, standardisation) -> (values, n_failed)

`kind_terms` of a batch with the selection terms appended to the loss terms, from the same
solves: `selection_terms` for a PBM model; for `ml`, whose only term is the CO2 MSE, that term
again.
"""
evaluation_terms(kind::PBMKind, model, out, mask, targets, standardisation) =
    kind_terms(kind, model, out, mask, targets, standardisation, evaluation_objective,
               length(model.term_names) + 1 + length(model.selection_constraints))

function evaluation_terms(kind::MLKind, model, out, mask, targets, standardisation)
    terms, n_failed = kind_terms(kind, model, out, mask, targets, standardisation)
    return vcat(terms, terms), n_failed
end

"""
    batch_terms(model, θ, st, standardisation, inputs, mask, targets) -> (terms, st, n_failed)

Network forward pass (training or test mode, as `st` says) and the batch's loss terms; the
updated network state carries the new running statistics.
"""
function batch_terms(model::HySoMiModel, θ, st, standardisation, inputs, mask, targets)
    out, state = model.network((inputs, mask), θ.network, st)
    terms, n_failed = kind_terms(model.kind, model, out, mask, targets, standardisation)
    return terms, state, n_failed
end

"""
    batch_loss(model, θ, st, running, standardisation, batch) -> (loss, aux)

The weighted training loss of one batch; `aux` holds the terms, the updated network state and
running magnitudes, and the number of failed solves.
"""
function batch_loss(model::HySoMiModel, θ, st, running, standardisation, batch)
    terms, state, n_failed = batch_terms(model, θ, st, standardisation, batch.inputs, batch.mask,
                                         batch.targets)
    loss, running = model.weighting(terms, θ.loss_scales, running)
    return loss, (terms = terms, state = state, running = running, n_failed = n_failed)
end
