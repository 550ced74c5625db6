# HySoMi training (spec hysomi.md section 6), mirroring Python's `engines.jax.hysomi_train`:
# Adam on the trait network and the loss scales, the step size times `decay_rate` every
# `decay_epochs` epochs, shuffled batches of `batch_size` (the last one padded and masked),
# a fixed validation criterion after every epoch (`selection`), early stopping after `patience`
# epochs without a strictly lower one, and the epoch with the lowest one restored (the initial
# weights if no epoch has a finite criterion). A sample whose solve fails is masked out of the
# loss (zero gradient) and counted; non-finite gradient entries are zeroed.
#
# The criterion of an epoch (`SELECTIONS`, Python's `hysomi_train.selection_criterion`), over
# the validation samples in test mode: "co2_constraints" the CO2 MSE plus the unweighted sum of
# the mean soft violations of the configured constraint table (`ml`: the CO2 MSE alone), "co2"
# the CO2 MSE, "objective" the model's weighted training loss; +Inf if any validation solve
# failed.
#
# Settings keys read (`HySoMiTrainConfig`): epochs 300, learning_rate 0.005, decay_rate 0.9,
# decay_epochs 10, patience 30, selection "co2_constraints", seed 0, and the keys of
# hysomi_loss.jl.
# Data keys read: traits_train (n, n_traits), states_train (n, nt, 6) mg C/g, the same for
# "validation", traits_test, and the keys of hysomi_loss.jl.
#
# Flat model layout returned to Python: the network's (hysomi_network.jl) plus "loss_scales"
# (n_terms,), "trait_mean", "trait_std" (n_traits,), "co2_mean" (nt,) and "co2_scale" (1,).

"""
    HySoMiSplit(traits, states, standardisation)

One split's network inputs (`n_traits × n`) and per-sample target trajectories (`6 × nt`).
"""
struct HySoMiSplit
    inputs::Matrix{Float64}
    targets::Vector{Matrix{Float64}}
end

function HySoMiSplit(traits::AbstractMatrix, states::AbstractArray, s::Standardisation)
    (ndims(states) == 3 && size(states, 1) == size(traits, 1) && size(states, 3) == 6 &&
     size(states, 2) == length(s.co2_mean)) ||
        throw(ArgumentError("states must have shape ($(size(traits, 1)), $(length(s.co2_mean)), 6); got $(size(states))"))
    return HySoMiSplit(network_inputs(s, traits), [permutedims(states[i, :, :]) for i in axes(states, 1)])
end

samples(split::HySoMiSplit) = length(split.targets)

"""
    padded_batches(n, batch_size, rng) -> Vector{Tuple{Vector{Int},Vector{Float64}}}

Index vectors of length `batch_size` and their 0/1 masks covering samples `1:n`, shuffled by `rng`
(in order when `rng === nothing`); the last batch is padded with sample 1, masked out.
"""
function padded_batches(n::Integer, batch_size::Integer, rng)
    order = rng === nothing ? collect(1:n) : randperm(rng, n)
    return map(1:batch_size:n) do start
        chunk = order[start:min(start + batch_size - 1, n)]
        padding = batch_size - length(chunk)
        (vcat(chunk, ones(Int, padding)), vcat(ones(length(chunk)), zeros(padding)))
    end
end

"""One batch of a split: network inputs, mask and targets."""
batch(split::HySoMiSplit, index, mask) =
    (inputs = split.inputs[:, index], mask = mask, targets = split.targets[index])

"""
    evaluate(model, θ, st, standardisation, split) -> (terms, selected, n_failed)

Loss terms and selection terms (`evaluation_terms`: the CO2 MSE, then one mean soft violation
per constraint; the CO2 MSE alone for `ml`) over a split in test mode (running batch-norm
statistics), each batch's values weighted by its number of samples as the JAX engine's
validation does, and the number of samples whose solve failed.
"""
function evaluate(model::HySoMiModel, θ, st, standardisation, split::HySoMiSplit)
    totals, failed = 0.0, 0
    test_state = Lux.testmode(st)
    for (index, mask) in padded_batches(samples(split), model.batch_size, nothing)
        b = batch(split, index, mask)
        out, _ = model.network((b.inputs, b.mask), θ.network, test_state)
        values, n_failed = evaluation_terms(model.kind, model, out, b.mask, b.targets,
                                            standardisation)
        totals = totals .+ values .* sum(mask)
        failed += n_failed
    end
    totals = totals ./ samples(split)
    n_terms = length(model.term_names)
    return totals[1:n_terms], totals[(n_terms + 1):end], failed
end

"""
Validation criteria of early stopping by the names of `soilsciml.config.SELECTIONS`, each
`(objective, selected) -> value` of the weighted validation loss and the selection terms.
"""
const SELECTIONS = Dict{String,Any}(
    "co2_constraints" => (objective, selected) -> sum(selected),
    "co2" => (objective, selected) -> first(selected),
    "objective" => (objective, selected) -> objective,
)

"""
    selection_criterion(criterion, objective, selected, n_failed) -> Float64

The validation criterion of an epoch (a function of `SELECTIONS`); +Inf if any validation solve
failed.
"""
selection_criterion(criterion, objective, selected, n_failed) =
    n_failed > 0 ? Inf : Float64(criterion(objective, selected))

"""The gradient as a vector with the layout of `θ`, its non-finite entries zeroed."""
function finite_gradient(gradient, θ)
    g = as_parameters(gradient, θ)
    g .= ifelse.(isfinite.(g), g, zero(eltype(g)))
    return g
end

"""Per-epoch records of a fit; `history_arrays` turns them into the Python history."""
struct EpochHistory
    train_loss::Vector{Float64}
    validation_loss::Vector{Float64}
    selection::Vector{Float64}
    validation_mse_co2::Vector{Float64}
    validation_constraint_sum::Vector{Float64}
    validation_failed::Vector{Float64}
    learning_rate::Vector{Float64}
    failed_solves::Vector{Float64}
    validation_terms::Vector{Vector{Float64}}
    term_weights::Vector{Vector{Float64}}
end
EpochHistory() = EpochHistory((Float64[] for _ in 1:8)..., Vector{Float64}[], Vector{Float64}[])

"""
The history as a Dict of arrays, the per-term entries `epochs × n_terms`, and `best_epoch`
(one value: the epoch kept, counted from 1; 0 for the initial weights).
"""
function history_arrays(h::EpochHistory, best_epoch::Integer)
    rows(vs) = permutedims(reduce(hcat, vs))
    return Dict{String,Array{Float64}}(
        "train_loss" => h.train_loss, "validation_loss" => h.validation_loss,
        "selection" => h.selection, "validation_mse_co2" => h.validation_mse_co2,
        "validation_constraint_sum" => h.validation_constraint_sum,
        "validation_failed" => h.validation_failed,
        "learning_rate" => h.learning_rate, "failed_solves" => h.failed_solves,
        "validation_terms" => rows(h.validation_terms), "term_weights" => rows(h.term_weights),
        "best_epoch" => [Float64(best_epoch)])
end

"""
    model_weights(model, θ, st, standardisation) -> Dict

The trained model in the flat layout of this file's header.
"""
function model_weights(model::HySoMiModel, θ, st, s::Standardisation)
    out = network_weights(model.network, θ.network, st)
    out["loss_scales"] = Vector{Float64}(θ.loss_scales)
    out["trait_mean"], out["trait_std"] = s.trait_mean, s.trait_std
    out["co2_mean"], out["co2_scale"] = s.co2_mean, [s.co2_scale]
    return out
end

"""
    predict_samples(model, ps, st, standardisation, traits) -> NamedTuple

Test-mode predictions for traits `n × n_traits`: `(params, states, codes)`, parameters
`n × 13` (NaN for `ml`), pools `n × nt × 6` mg C/g (only CO2 for `ml`; NaN after a failed
solve) and a status code per sample.
"""
function predict_samples(model::HySoMiModel, ps, st, s::Standardisation, traits::AbstractMatrix)
    inputs = network_inputs(s, traits)
    out, _ = model.network((inputs, ones(size(inputs, 2))), ps, Lux.testmode(st))
    return predicted(model.kind, model, out, s)
end

function predicted(::PBMKind, model::HySoMiModel, out, s::Standardisation)
    params = permutedims(to_box(model, out))
    states, codes, _ = simulate_rows(model.pbm, params, repeat(model.initial', size(params, 1)))
    return (params = params, states = states, codes = codes)
end

function predicted(::MLKind, model::HySoMiModel, out, s::Standardisation)
    n, nt = size(out, 2), length(model.pbm.times)
    states = fill(NaN, n, nt, length(PBM_STATES))
    states[:, :, 6] .= permutedims(s.co2_mean .+ s.co2_scale .* out)
    return (params = fill(NaN, n, length(PBM_PARAMETERS)), states = states, codes = zeros(Int, n))
end

"""
    fit_hysomi(data, settings) -> NamedTuple

Train one compared model (`settings["model"]`) on the training split, stop early on the
validation criterion `settings["selection"]` (this file's header), and predict the test split
with the model of the epoch with the lowest criterion.

# Returns
`(weights, history, term_names, params, states, codes)`: the trained model in the flat layout,
the per-epoch history (`train_loss`, `validation_loss` the training objective on the
validation split, `selection` the criterion, `validation_mse_co2`, `validation_constraint_sum`
(NaN without constraints, as for `ml`), `validation_failed`, `learning_rate`, `failed_solves`,
`validation_terms` and `term_weights` 1/(2 s^2), the last two `epochs × n_terms`) with
`best_epoch` (one value, from 1; 0 for the initial weights), the loss term names, and the test
predictions of `predict_samples`.
"""
function fit_hysomi(data::AbstractDict, settings::AbstractDict)
    traits = Matrix{Float64}(required(data, "traits_train"))
    states = Array{Float64}(required(data, "states_train"))
    model = HySoMiModel(data, settings, size(traits, 2))
    standardisation = Standardisation(traits, states)
    train = HySoMiSplit(traits, states, standardisation)
    validation = HySoMiSplit(Matrix{Float64}(required(data, "traits_validation")),
                             Array{Float64}(required(data, "states_validation")), standardisation)
    rng = Xoshiro(setting(settings, "seed", 0))
    ps, st = Lux.setup(rng, model.network)
    θ = ComponentVector(network = ps, loss_scales = ones(length(model.term_names)))
    lr = setting(settings, "learning_rate", 0.005)
    decay_rate, decay_epochs = setting(settings, "decay_rate", 0.9), setting(settings, "decay_epochs", 10)
    patience = setting(settings, "patience", 30)
    criterion = choice(SELECTIONS, setting(settings, "selection", "co2_constraints"), "selection")
    optimiser = Optimisers.setup(Adam(lr), θ)
    running = zeros(length(model.term_names))
    history = EpochHistory()
    best, best_value, best_epoch, waited = (θ = copy(θ), st = st), Inf, 0, 0
    for epoch in 1:setting(settings, "epochs", 300)
        step_size = lr * decay_rate^fld(epoch - 1, decay_epochs)
        Optimisers.adjust!(optimiser, step_size)
        losses, failed = Float64[], 0
        for (index, mask) in padded_batches(samples(train), model.batch_size, rng)
            (loss, aux), gradient = let b = batch(train, index, mask), st = st, running = running
                Zygote.withgradient(p -> batch_loss(model, p, st, running, standardisation, b), θ)
            end
            optimiser, θ = Optimisers.update!(optimiser, θ, finite_gradient(first(gradient), θ))
            st, running = aux.state, aux.running
            push!(losses, loss)
            failed += aux.n_failed
        end
        terms, selected, validation_failed = evaluate(model, θ, st, standardisation, validation)
        validation_loss = first(model.weighting(terms, θ.loss_scales, running))
        value = selection_criterion(criterion, validation_loss, selected, validation_failed)
        push!(history.train_loss, mean(losses))
        push!(history.validation_loss, validation_loss)
        push!(history.selection, value)
        push!(history.validation_mse_co2, first(selected))
        push!(history.validation_constraint_sum,
              length(selected) > 1 ? sum(selected[2:end]) : NaN)
        push!(history.validation_failed, validation_failed)
        push!(history.learning_rate, step_size)
        push!(history.failed_solves, failed)
        push!(history.validation_terms, terms)
        push!(history.term_weights, 1 ./ (2 .* θ.loss_scales .^ 2))
        if value < best_value  # NaN and +Inf never improve
            best, best_value, best_epoch, waited = (θ = copy(θ), st = st), value, epoch, 0
        else
            waited += 1
            waited >= patience && break
        end
    end
    test = predict_samples(model, best.θ.network, best.st, standardisation,
                           Matrix{Float64}(required(data, "traits_test")))
    return (weights = model_weights(model, best.θ, best.st, standardisation),
            history = history_arrays(history, best_epoch), term_names = model.term_names,
            params = test.params, states = test.states, codes = test.codes)
end

"""
    predict_hysomi(weights, traits, data, settings) -> NamedTuple

Predictions of a trained model (the flat `weights` of `fit_hysomi`) for traits
`n × n_traits`: `(params, states, codes)` as `predict_samples` returns them. `data` holds the
`times`, `initial`, `lower`, `upper` (and, for `hysomi`, `constraints`) the model was trained
with.
"""
function predict_hysomi(weights::AbstractDict, traits::AbstractMatrix, data::AbstractDict,
                        settings::AbstractDict)
    model = HySoMiModel(data, settings, size(traits, 2))
    ps, st = network_from_weights(model.network, weights)
    n_traits, nt = size(traits, 2), length(model.pbm.times)
    s = Standardisation(flat_array(weights, "trait_mean", (n_traits,)),
                        flat_array(weights, "trait_std", (n_traits,)),
                        flat_array(weights, "co2_mean", (nt,)),
                        only(flat_array(weights, "co2_scale", (1,))))
    return predict_samples(model, ps, st, s, Matrix{Float64}(traits))
end
