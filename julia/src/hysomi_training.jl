# HySoMi training (spec hysomi.md section 6), mirroring Python's `engines.jax.hysomi_train`:
# Adam on the trait network and the loss scales, the step size times `decay_rate` every
# `decay_epochs` epochs, shuffled batches of `batch_size` (the last one padded and masked),
# the validation loss after every epoch, early stopping after `patience` epochs without a
# better one, and the best epoch restored. A sample whose solve fails is masked out of the loss
# (zero gradient) and counted; non-finite gradient entries are zeroed.
#
# Settings keys read (`HySoMiTrainConfig`): epochs 300, learning_rate 0.005, decay_rate 0.9,
# decay_epochs 10, patience 30, seed 0, and the keys of hysomi_loss.jl.
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
    evaluate(model, θ, st, standardisation, split) -> Vector

Loss terms over a split in test mode (running batch-norm statistics): each batch's terms
weighted by its number of samples, as the JAX engine's validation does.
"""
function evaluate(model::HySoMiModel, θ, st, standardisation, split::HySoMiSplit)
    totals = zeros(length(model.term_names))
    test_state = Lux.testmode(st)
    for (index, mask) in padded_batches(samples(split), model.batch_size, nothing)
        b = batch(split, index, mask)
        terms, _, _ = batch_terms(model, θ, test_state, standardisation, b.inputs, b.mask, b.targets)
        totals .+= terms .* sum(mask)
    end
    return totals ./ samples(split)
end

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
    learning_rate::Vector{Float64}
    failed_solves::Vector{Float64}
    validation_terms::Vector{Vector{Float64}}
    term_weights::Vector{Vector{Float64}}
end
EpochHistory() = EpochHistory(Float64[], Float64[], Float64[], Float64[], Vector{Float64}[],
                              Vector{Float64}[])

"""The history as a Dict of arrays, the per-term entries `epochs × n_terms`."""
function history_arrays(h::EpochHistory)
    rows(vs) = permutedims(reduce(hcat, vs))
    return Dict{String,Array{Float64}}(
        "train_loss" => h.train_loss, "validation_loss" => h.validation_loss,
        "learning_rate" => h.learning_rate, "failed_solves" => h.failed_solves,
        "validation_terms" => rows(h.validation_terms), "term_weights" => rows(h.term_weights))
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
validation split, and predict the test split with the best epoch's model.

# Returns
`(weights, history, term_names, params, states, codes)`: the trained model in the flat layout,
the per-epoch history (`train_loss`, `validation_loss`, `learning_rate`, `failed_solves`,
`validation_terms` and `term_weights` 1/(2 s^2), the last two `epochs × n_terms`), the loss
term names, and the test predictions of `predict_samples`.
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
    optimiser = Optimisers.setup(Adam(lr), θ)
    running = zeros(length(model.term_names))
    history = EpochHistory()
    best, best_loss, waited = (θ = copy(θ), st = st), Inf, 0
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
        terms = evaluate(model, θ, st, standardisation, validation)
        validation_loss = first(model.weighting(terms, θ.loss_scales, running))
        push!(history.train_loss, mean(losses))
        push!(history.validation_loss, validation_loss)
        push!(history.learning_rate, step_size)
        push!(history.failed_solves, failed)
        push!(history.validation_terms, terms)
        push!(history.term_weights, 1 ./ (2 .* θ.loss_scales .^ 2))
        if isfinite(validation_loss) && validation_loss < best_loss
            best, best_loss, waited = (θ = copy(θ), st = st), validation_loss, 0
        else
            waited += 1
            waited >= patience && break
        end
    end
    test = predict_samples(model, best.θ.network, best.st, standardisation,
                           Matrix{Float64}(required(data, "traits_test")))
    return (weights = model_weights(model, best.θ, best.st, standardisation),
            history = history_arrays(history), term_names = model.term_names,
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
