# Weight-independent preparation of an SOC UDE problem, mirroring
# python/soilsciml/models/soc_ude.py so that both engines see the same arrays: typed problem
# data, network input scaling, the target layout of each loss target, and the smoothed field of
# the collocation term.
#
# Problem Dict (Python: fields of `SOCUDEProblem`):
#   depth (nz,), times (nt,) observed times (times[1] starts the solve), initial (nz,),
#   driver_times (ntd,), drivers (ntd, nz, 3) in order ph, cec, clay, targets (nt, nz) with NaN
#   for missing observations, diffusion, advection, boundary, and optionally input_shift and
#   input_scale (6,) (a trained model's scaling; `nothing` to compute it).
# Keys read:
#   network.input_scaling       "paper"     paper | standardise
#   loss.target                 "terminal"  terminal | trajectory | initial
#   loss.epsilon_rollout        1.0         rollout length (yr) of target "initial"
#   loss.collocation_bandwidth  1.0         Gaussian kernel width in median time spacings

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
