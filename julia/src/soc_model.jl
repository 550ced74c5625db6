# The SOC depth-profile PDE (docs/science/soc-ude.md, sections 1-3), engine side:
#
#     dC/dt = D d2C/dz2 - v dC/dz + P(env) - R(env)
#
# C in %, z in m (positive down), t in years, D in m2 yr-1, v in m yr-1, P and R in % yr-1.
# The formulas mirror python/soilsciml/models/soc.py term by term.
#
# Keys read by `simulate_soc_truth` (Python: `SOCTruthProblem` fields):
#   diffusion  1e-3         D, m2 yr-1
#   advection  1e-3         v, m yr-1
#   boundary   "mirror"     mirror | zero_flux
#   truth      "reference"  reference | transport_only
#   drivers.*  paper eqs. 9-11 (fields of `DriverCoefficients`)
#   reference.*              docs/science/soc-ude.md#soc-truth (fields of `ReferenceTruth`)
#   solver.*, sensealg       see settings.jl

"""Boundary treatment of the method of lines."""
abstract type AbstractBoundary end

"""Mirrored ghost points `C[0] = C[2]`, `C[N+1] = C[N-1]` (paper eq. 6); leaks mass when v > 0."""
struct MirrorBoundary <: AbstractBoundary end

"""Finite volumes with zero total flux `D C_z - v C` at both ends; conserves total carbon."""
struct ZeroFluxBoundary <: AbstractBoundary end

"""Boundaries by their configuration names."""
const BOUNDARIES = Dict{String,AbstractBoundary}(
    "mirror" => MirrorBoundary(), "zero_flux" => ZeroFluxBoundary())

"""
    cell_volumes(nz, dz) -> Vector{Float64}

Control-volume widths in m: `dz` inside, `dz / 2` at both ends (trapezoid weights).
"""
function cell_volumes(nz::Integer, dz::Real)
    widths = fill(Float64(dz), nz)
    widths[1] = widths[end] = dz / 2
    return widths
end

"""
    total_carbon(soc, dz)

Depth integral of an SOC profile (trapezoid rule) in % m; conserved by `ZeroFluxBoundary`.
"""
total_carbon(soc::AbstractVector, dz::Real) = dot(cell_volumes(length(soc), dz), soc)

"""
    Transport(depth, diffusion, advection, boundary)

Advection-diffusion on the uniform grid `depth` (m) with diffusivity `diffusion` (m2 yr-1),
downward velocity `advection` (m yr-1) and an `AbstractBoundary`.
"""
struct Transport{B<:AbstractBoundary}
    dz::Float64
    diffusion::Float64
    advection::Float64
    boundary::B
    volumes::Vector{Float64}
end

function Transport(depth::AbstractVector, diffusion::Real, advection::Real, boundary::AbstractBoundary)
    length(depth) >= 3 || throw(ArgumentError("depth needs at least 3 nodes; got $(length(depth))"))
    dz = depth[2] - depth[1]
    dz > 0 || throw(ArgumentError("depth must increase; got dz = $dz"))
    return Transport(Float64(dz), Float64(diffusion), Float64(advection), boundary,
                     cell_volumes(length(depth), dz))
end

"""
    transport_tendency(soc, transport) -> Vector

`D C_zz - v C_z` at the nodes by second-order central differences. Written without mutation so
that Zygote can differentiate it.
"""
function transport_tendency(soc::AbstractVector, tr::Transport{MirrorBoundary})
    padded = vcat(soc[2], soc, soc[end - 1])
    lower = padded[1:(end - 2)]
    upper = padded[3:end]
    czz = (upper .- 2 .* soc .+ lower) ./ tr.dz^2
    cz = (upper .- lower) ./ (2 * tr.dz)
    return tr.diffusion .* czz .- tr.advection .* cz
end

function transport_tendency(soc::AbstractVector, tr::Transport{ZeroFluxBoundary})
    left = soc[1:(end - 1)]
    right = soc[2:end]
    face = tr.advection .* (left .+ right) ./ 2 .- tr.diffusion .* (right .- left) ./ tr.dz
    wall = zero(eltype(face))
    flux = vcat(wall, face, wall)
    return -(flux[2:end] .- flux[1:(end - 1)]) ./ tr.volumes
end

"""
    DriverCoefficients(; ph0 = 6.5, ...)

The paper's synthetic drivers (eqs. 9-11), pH in pH units, CEC in cmol(+)/kg, clay in %:

    pH(z, t)   = ph0 + ph_slope z + ph_amp sin(2π t / ph_period)
    CEC(z, t)  = cec0 + cec_depth_amp sin(2π z) + cec_amp cos(2π t / cec_period)
    Clay(z, t) = clay0 + clay_depth_amp cos(2π z) + clay_amp sin(2π t / clay_period)
"""
Base.@kwdef struct DriverCoefficients
    ph0::Float64 = 6.5
    ph_slope::Float64 = -0.5
    ph_amp::Float64 = 0.10
    ph_period::Float64 = 1.0
    cec0::Float64 = 0.5
    cec_depth_amp::Float64 = 0.1
    cec_amp::Float64 = 0.05
    cec_period::Float64 = 5.0
    clay0::Float64 = 25.0
    clay_depth_amp::Float64 = 5.0
    clay_amp::Float64 = 0.5
    clay_period::Float64 = 10.0
end

"""
    ReferenceTruth(; p0 = 0.08, ...)

Mechanistic source and sink of the `reference` truth generator (docs/science/soc-ude.md#soc-truth), % yr-1:

    P*(z, t)    = p0 exp(-p_depth z) (1 + p_ph (pH - ph_ref))
    R*(C, z, t) = r0 (1 - r_cec (CEC - cec_ref)) (clay_ref / Clay) (1 + r_ph (pH - ph_ref)) C
"""
Base.@kwdef struct ReferenceTruth
    p0::Float64 = 0.08
    p_depth::Float64 = 3.0
    p_ph::Float64 = 0.2
    r0::Float64 = 0.04
    r_cec::Float64 = 0.5
    r_ph::Float64 = 0.1
    ph_ref::Float64 = 6.5
    cec_ref::Float64 = 0.5
    clay_ref::Float64 = 25.0
end

"""
    from_settings(T, settings, key)

A keyword-constructed struct `T` from the sub-Dict `settings[key]` (defaults where absent);
an `ArgumentError` names unknown keys.
"""
function from_settings(::Type{T}, settings::AbstractDict, key::AbstractString) where {T}
    section = get(settings, key, Dict{String,Any}())
    known = fieldnames(T)
    unknown = [k for k in keys(section) if Symbol(k) ∉ known]
    isempty(unknown) ||
        throw(ArgumentError("unknown setting $key.$(first(unknown)); valid: $(join(known, ", "))"))
    return T(; (Symbol(k) => Float64(v) for (k, v) in section)...)
end

"""
    driver_fields(depth, t, coef) -> (ph, cec, clay)

The analytic drivers at the nodes `depth` (m) and time `t` (yr).
"""
function driver_fields(depth::AbstractVector, t::Real, c::DriverCoefficients)
    ph = @. c.ph0 + c.ph_slope * depth + c.ph_amp * sin(2π * t / c.ph_period)
    cec = @. c.cec0 + c.cec_depth_amp * sin(2π * depth) + c.cec_amp * cos(2π * t / c.cec_period)
    clay = @. c.clay0 + c.clay_depth_amp * cos(2π * depth) + c.clay_amp * sin(2π * t / c.clay_period)
    return ph, cec, clay
end

"""Reference production P*(z, t) in % yr-1."""
reference_production(depth, ph, r::ReferenceTruth) =
    @. r.p0 * exp(-r.p_depth * depth) * (1 + r.p_ph * (ph - r.ph_ref))

"""Reference respiration R*(C, z, t) in % yr-1."""
reference_respiration(soc, ph, cec, clay, r::ReferenceTruth) =
    @. r.r0 * (1 - r.r_cec * (cec - r.cec_ref)) * (r.clay_ref / clay) * (1 + r.r_ph * (ph - r.ph_ref)) * soc

"""
    SOCTruthRHS(depth, transport, mechanistic, drivers, reference)

Right-hand side `(soc, p, t) -> dC/dt` of a truth generator: transport only, or transport plus
the reference production and respiration when `mechanistic` is true.
"""
struct SOCTruthRHS{B<:AbstractBoundary}
    depth::Vector{Float64}
    transport::Transport{B}
    mechanistic::Bool
    drivers::DriverCoefficients
    reference::ReferenceTruth
end

function (f::SOCTruthRHS)(soc, _, t)
    dcdt = transport_tendency(soc, f.transport)
    f.mechanistic || return dcdt
    ph, cec, clay = driver_fields(f.depth, t, f.drivers)
    return dcdt .+ reference_production(f.depth, ph, f.reference) .-
           reference_respiration(soc, ph, cec, clay, f.reference)
end

"""
    simulate_soc_truth(depth, times, initial, settings) -> NamedTuple

Solve the SOC PDE with a truth generator and the analytic drivers.

# Arguments
- `depth::AbstractVector`: uniform nodes in m.
- `times::AbstractVector`: increasing output times in years; the solve starts at `times[1]`.
- `initial::AbstractVector`: SOC at `times[1]` in %.
- `settings::AbstractDict`: keys listed at the top of this file.

# Returns
`(times, soc, code, num_steps, num_rejected_steps)` with `soc` of size `nt × nz` (%), `code`
as in `status_code`.
"""
function simulate_soc_truth(depth::AbstractVector, times::AbstractVector, initial::AbstractVector,
                            settings::AbstractDict)
    times = Vector{Float64}(times)
    initial = Vector{Float64}(initial)
    length(initial) == length(depth) ||
        throw(ArgumentError("initial has $(length(initial)) nodes but depth has $(length(depth))"))
    length(times) == 1 && return (times = times, soc = reshape(initial, 1, :), code = 0,
                                  num_steps = 0, num_rejected_steps = 0)
    boundary = choice(BOUNDARIES, setting(settings, "boundary", "mirror"), "boundary")
    truth = setting(settings, "truth", "reference")
    truth in ("reference", "transport_only") ||
        throw(ArgumentError("setting truth must be reference or transport_only; got $truth"))
    transport = Transport(depth, setting(settings, "diffusion", 1e-3),
                          setting(settings, "advection", 1e-3), boundary)
    rhs = SOCTruthRHS(Vector{Float64}(depth), transport, truth == "reference",
                      from_settings(DriverCoefficients, settings, "drivers"),
                      from_settings(ReferenceTruth, settings, "reference"))
    solver = solver_settings(settings)
    problem = ODEProblem{false}(rhs, initial, (times[1], times[end]))
    sol = solve(problem, solver.algorithm; saveat = times, reltol = solver.rtol,
                abstol = solver.atol, maxiters = solver.maxiters)
    steps, rejected = step_counts(sol)
    return (times = times, soc = saved_states(sol, length(times), length(initial)),
            code = status_code(sol, length(times)), num_steps = steps,
            num_rejected_steps = rejected)
end
