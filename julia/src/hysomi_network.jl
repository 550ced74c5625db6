# The HySoMi trait network (spec hysomi.md section 6) in Lux: traits -> `depth` hidden blocks
# (Dense, batch normalisation, ReLU) -> Dense head. The head has 13 outputs (raw PBM
# parameters, mapped into the box by `to_box`) or, for the `ml` baseline, one per output time.
# The same network as Python's `engines.jax.hysomi_net.TraitNetwork`, formula for formula.
#
# Batch normalisation is written here rather than taken from `Lux.BatchNorm`: training pads the
# last partial batch to the batch size as the JAX engine does, so the batch statistics are
# means weighted by a 0/1 sample mask, and padding never enters them. Running statistics live in
# the Lux state, `Lux.testmode` switches to them.
#
# Keys read (section of `HySoMiTrainConfig`): width 64, depth 5, seed 0.
# Flat weight layout exchanged with Python (arrays in the logical layout of equinox's Linear):
#   "hidden_<i>.weight" (width, n_in), "hidden_<i>.bias", "hidden_<i>.scale", "hidden_<i>.shift",
#   "hidden_<i>.running_mean", "hidden_<i>.running_var" (width,), i = 1..depth;
#   "head.weight" (n_out, width), "head.bias" (n_out,).

"""Momentum of the running batch-norm statistics (PyTorch's default, as in the JAX engine)."""
const NORM_MOMENTUM = 0.1

"""Added to the variance before dividing (PyTorch's default, as in the JAX engine)."""
const NORM_EPS = 1e-5

"""
    MaskedBatchNorm(width)

Batch normalisation then ReLU of a `width × n` batch, input `(z, mask)` with `mask` the `n`
0/1 sample weights. In training mode (`st.training == Val(true)`) the statistics are the
masked batch mean and (biased) variance, and the running statistics move towards them with
the unbiased variance; in test mode the running statistics normalise.
"""
struct MaskedBatchNorm <: AbstractLuxLayer
    width::Int
end

Lux.initialparameters(::AbstractRNG, bn::MaskedBatchNorm) =
    (scale = ones(bn.width), shift = zeros(bn.width))

Lux.initialstates(::AbstractRNG, bn::MaskedBatchNorm) =
    (running_mean = zeros(bn.width), running_var = ones(bn.width), training = Val(true))

function (bn::MaskedBatchNorm)((z, mask)::Tuple, ps, st)
    centre, spread, state = batch_statistics(z, mask, st, st.training)
    return relu.(ps.scale .* (z .- centre) ./ sqrt.(spread .+ NORM_EPS) .+ ps.shift), state
end

batch_statistics(z, mask, st, ::Val{false}) = (st.running_mean, st.running_var, st)

function batch_statistics(z, mask, st, ::Val{true})
    n_real = sum(mask)
    weights = mask ./ max(n_real, 1)
    centre = z * weights
    spread = abs2.(z .- centre) * weights
    state = @ignore_derivatives running_statistics(st, centre, spread, n_real)
    return centre, spread, state
end

"""
    running_statistics(st, centre, spread, n_real)

The state after one training batch: running mean and variance moved by `NORM_MOMENTUM`
towards the batch mean and the unbiased batch variance (`n_real` real samples).
"""
function running_statistics(st, centre, spread, n_real)
    unbiased = spread .* (n_real / max(n_real - 1, 1))
    return (running_mean = (1 - NORM_MOMENTUM) .* st.running_mean .+ NORM_MOMENTUM .* centre,
            running_var = (1 - NORM_MOMENTUM) .* st.running_var .+ NORM_MOMENTUM .* unbiased,
            training = st.training)
end

"""
    HiddenBlock(dense, norm)

`Dense` then `MaskedBatchNorm`, carrying the sample mask along: `(h, mask) -> (h', mask)`.
"""
struct HiddenBlock{D} <: AbstractLuxContainerLayer{(:dense, :norm)}
    dense::D
    norm::MaskedBatchNorm
end

function (block::HiddenBlock)((h, mask)::Tuple, ps, st)
    z, dense_state = block.dense(h, ps.dense, st.dense)
    y, norm_state = block.norm((z, mask), ps.norm, st.norm)
    return (y, mask), (dense = dense_state, norm = norm_state)
end

"""
    TraitNetwork(hidden, head)

`(x, mask) -> outputs`: the hidden blocks (a `Lux.Chain` of `HiddenBlock`s) then the linear
head; `x` is `n_in × n` (features first, as Lux expects), the outputs `n_out × n`.
"""
struct TraitNetwork{C,H} <: AbstractLuxContainerLayer{(:hidden, :head)}
    hidden::C
    head::H
end

function (net::TraitNetwork)(input::Tuple, ps, st)
    (h, _), hidden_state = net.hidden(input, ps.hidden, st.hidden)
    out, head_state = net.head(h, ps.head, st.head)
    return out, (hidden = hidden_state, head = head_state)
end

"""
    uniform_init(fan_in)

Lux initialiser drawing Float64 values uniformly in ±1/sqrt(fan_in), equinox's default for
the weights and biases of a Linear layer (the random numbers differ between engines).
"""
uniform_init(fan_in::Integer) = (rng, dims...) -> (2 .* rand(rng, Float64, dims...) .- 1) ./ sqrt(fan_in)

"""
    trait_network(n_in, n_out, width, depth) -> TraitNetwork
"""
function trait_network(n_in::Integer, n_out::Integer, width::Integer, depth::Integer)
    (width >= 1 && depth >= 1) || throw(ArgumentError("width and depth must be >= 1"))
    blocks = map(1:depth) do i
        fan_in = i == 1 ? n_in : width
        HiddenBlock(Dense(fan_in => width; init_weight = uniform_init(fan_in),
                          init_bias = uniform_init(fan_in)), MaskedBatchNorm(width))
    end
    head = Dense(width => n_out; init_weight = uniform_init(width), init_bias = uniform_init(width))
    return TraitNetwork(Chain(blocks...), head)
end

"""Names of the hidden blocks in the Lux parameters of `net` (`layer_1`, ... of the Chain)."""
block_names(net::TraitNetwork) = keys(net.hidden.layers)

"""
    network_weights(net, ps, st) -> Dict{String,Array{Float64}}

Trainable parameters `ps` and running statistics `st` in the flat layout of this file.
"""
function network_weights(net::TraitNetwork, ps, st)
    out = Dict{String,Array{Float64}}()
    for (i, name) in enumerate(block_names(net))
        block, stats = getproperty(ps.hidden, name), getproperty(st.hidden, name).norm
        out["hidden_$i.weight"] = Matrix{Float64}(block.dense.weight)
        out["hidden_$i.bias"] = Vector{Float64}(vec(block.dense.bias))
        out["hidden_$i.scale"] = Vector{Float64}(block.norm.scale)
        out["hidden_$i.shift"] = Vector{Float64}(block.norm.shift)
        out["hidden_$i.running_mean"] = Vector{Float64}(stats.running_mean)
        out["hidden_$i.running_var"] = Vector{Float64}(stats.running_var)
    end
    out["head.weight"] = Matrix{Float64}(ps.head.weight)
    out["head.bias"] = Vector{Float64}(vec(ps.head.bias))
    return out
end

"""
    flat_array(weights, key, shape) -> Array{Float64}

`weights[key]` as a Float64 array of `shape`, or an `ArgumentError` naming the key.
"""
function flat_array(weights::AbstractDict, key::AbstractString, shape::Tuple)
    haskey(weights, key) || throw(ArgumentError("$key is missing"))
    value = Array{Float64}(weights[key])
    value = length(shape) == 1 ? vec(value) : value
    size(value) == shape || throw(ArgumentError("$key has shape $(size(value)); expected $shape"))
    return value
end

"""
    network_from_weights(net, weights) -> (ps, st)

Lux parameters and test-mode state of `net` from the flat layout, every shape checked.
"""
function network_from_weights(net::TraitNetwork, weights::AbstractDict)
    names = block_names(net)
    blocks = map(enumerate(names)) do (i, name)
        dense = getproperty(net.hidden.layers, name).dense
        width, key = dense.out_dims, "hidden_$i"
        ps = (dense = (weight = flat_array(weights, "$key.weight", (width, dense.in_dims)),
                       bias = flat_array(weights, "$key.bias", (width,))),
              norm = (scale = flat_array(weights, "$key.scale", (width,)),
                      shift = flat_array(weights, "$key.shift", (width,))))
        st = (dense = NamedTuple(),
              norm = (running_mean = flat_array(weights, "$key.running_mean", (width,)),
                      running_var = flat_array(weights, "$key.running_var", (width,)),
                      training = Val(false)))
        ps, st
    end
    head = net.head
    ps = (hidden = NamedTuple{names}(Tuple(first.(blocks))),
          head = (weight = flat_array(weights, "head.weight", (head.out_dims, head.in_dims)),
                  bias = flat_array(weights, "head.bias", (head.out_dims,))))
    st = (hidden = NamedTuple{names}(Tuple(last.(blocks))), head = NamedTuple())
    return ps, st
end
