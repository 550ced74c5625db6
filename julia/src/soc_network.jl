# NN_P and NN_R (contracts: "SOC UDE"): Dense(6 -> H1, act) -> Dense(H1 -> H2, act) ->
# Dense(H2 -> 1) -> head, inputs (pH, OC, CEC, Clay, z, t) scaled to O(1).
#
# Keys read (section "network" of the SOC fit config):
#   network.h1          32          first hidden width
#   network.h2          16          second hidden width
#   network.activation  "gelu"      tanh | gelu (tanh approximation, == jax.nn.gelu(approximate=True))
#   network.head        "softplus"  softplus | scaled_sigmoid | none
#   network.head_scale  1.0         scale of scaled_sigmoid, % yr-1
#   network.input_scaling "paper"   paper | standardise (see `input_scaling` in soc_data.jl)
#
# Flat weight layout exchanged with Python (row-major there, same logical indices here):
#   "P.W1" (H1, 6), "P.b1" (H1,), "P.W2" (H2, H1), "P.b2" (H2,), "P.W3" (1, H2), "P.b3" (1,),
#   and the same for "R".

"""Network input order; the drivers array holds pH, CEC and clay in this order."""
const INPUTS = ("ph", "oc", "cec", "clay", "z", "t")

"""`softplus(x)`: non-negative, unbounded rate head."""
struct SoftplusHead end
(::SoftplusHead)(x) = softplus(x)

"""`scale * sigmoid(x)`: a rate bounded by `scale` (% yr-1)."""
struct ScaledSigmoidHead
    scale::Float64
end
(h::ScaledSigmoidHead)(x) = h.scale * sigmoid(x)

"""No head: the raw network output (rates may be negative)."""
struct IdentityHead end
(::IdentityHead)(x) = x

"""Activations by their configuration names."""
const ACTIVATIONS = Dict{String,Any}("tanh" => tanh, "gelu" => gelu)

"""
    network_head(settings)

The output head named by `network.head`.
"""
function network_head(settings::AbstractDict)
    name = setting(settings, "network.head", "softplus")
    name == "softplus" && return SoftplusHead()
    name == "scaled_sigmoid" && return ScaledSigmoidHead(setting(settings, "network.head_scale", 1.0))
    name == "none" && return IdentityHead()
    throw(ArgumentError("setting network.head must be softplus, scaled_sigmoid or none; got $name"))
end

"""
    soc_chain(settings) -> Lux.Chain

`Dense(6 => H1, act) -> Dense(H1 => H2, act) -> Dense(H2 => 1)`, shared by NN_P and NN_R
(each has its own parameters).
"""
function soc_chain(settings::AbstractDict)
    h1 = setting(settings, "network.h1", 32)
    h2 = setting(settings, "network.h2", 16)
    (h1 >= 1 && h2 >= 1) || throw(ArgumentError("network.h1 and network.h2 must be >= 1"))
    act = choice(ACTIVATIONS, setting(settings, "network.activation", "gelu"), "network.activation")
    return Chain(Dense(length(INPUTS) => h1, act), Dense(h1 => h2, act), Dense(h2 => 1))
end

"""
    network_parameters(weights, net, chain) -> NamedTuple

The Lux parameters of network `net` (`"P"` or `"R"`) from the flat weight Dict, with every
shape checked against `chain`.
"""
function network_parameters(weights::AbstractDict, net::AbstractString, chain)
    layers = ntuple(3) do i
        dense = chain.layers[i]
        wkey, bkey = "$net.W$i", "$net.b$i"
        (haskey(weights, wkey) && haskey(weights, bkey)) ||
            throw(ArgumentError("weights lack $wkey or $bkey"))
        weight = Matrix{Float64}(weights[wkey])
        bias = Vector{Float64}(vec(weights[bkey]))
        size(weight) == (dense.out_dims, dense.in_dims) ||
            throw(ArgumentError("$wkey has shape $(size(weight)); expected ($(dense.out_dims), $(dense.in_dims))"))
        length(bias) == dense.out_dims ||
            throw(ArgumentError("$bkey has length $(length(bias)); expected $(dense.out_dims)"))
        (weight = weight, bias = bias)
    end
    return (layer_1 = layers[1], layer_2 = layers[2], layer_3 = layers[3])
end

"""
    soc_parameters(weights, chain) -> ComponentVector{Float64}

Both networks' parameters, `θ.P` and `θ.R`, from the flat weight Dict.
"""
soc_parameters(weights::AbstractDict, chain) =
    ComponentArray(P = network_parameters(weights, "P", chain),
                   R = network_parameters(weights, "R", chain))

"""
    initial_weights(chain, seed) -> Dict{String,Matrix or Vector}

Seeded flat initial weights, uniform in ±1/sqrt(fan_in), the output layers 10 times smaller so
that NN_P and NN_R nearly cancel at first and the initial model is close to transport alone
(the JAX engine's rule; the random numbers differ between engines).
"""
function initial_weights(chain, seed::Integer)
    rng = Xoshiro(seed)
    weights = Dict{String,Array{Float64}}()
    for net in ("P", "R"), i in 1:3
        dense = chain.layers[i]
        bound = (i == 3 ? 0.1 : 1.0) / sqrt(dense.in_dims)
        weights["$net.W$i"] = bound .* (2 .* rand(rng, dense.out_dims, dense.in_dims) .- 1)
        weights["$net.b$i"] = bound .* (2 .* rand(rng, dense.out_dims) .- 1)
    end
    return weights
end

"""
    flat_weights(θ) -> Dict{String,Array{Float64}}

The flat weight layout of the contracts from `θ` (the inverse of `soc_parameters`).
"""
function flat_weights(θ::ComponentVector)
    out = Dict{String,Array{Float64}}()
    for net in (:P, :R), (i, layer) in enumerate((:layer_1, :layer_2, :layer_3))
        params = getproperty(getproperty(θ, net), layer)
        out["$net.W$i"] = Matrix{Float64}(params.weight)
        out["$net.b$i"] = Vector{Float64}(params.bias)
    end
    return out
end

"""
    InputScaling(shift, scale)

Network input `i` is `(x[i] - shift[i]) / scale[i]`, in the order of `INPUTS`.
"""
struct InputScaling
    shift::Vector{Float64}
    scale::Vector{Float64}
end

"""
    paper_scaling(t_end)

pH / 7, OC as is, CEC as is, Clay / 30, z as is, t / t_end (contracts, default).
"""
paper_scaling(t_end::Real) = InputScaling(zeros(6), [7.0, 1.0, 1.0, 30.0, 1.0, Float64(t_end)])

"""
    standard_scaling(values) -> InputScaling

Mean and population standard deviation of each input over its samples `values[i]` (a
constant input keeps unit scale), as numpy's `mean` and `std` compute them.
"""
function standard_scaling(values::NTuple{6,<:AbstractVector})
    shift = [mean(v) for v in values]
    spread = [std(v; corrected = false) for v in values]
    return InputScaling(shift, [s > 0 ? s : 1.0 for s in spread])
end
