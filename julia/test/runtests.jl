# The mathematical checks of the Python test suite, run on the Julia engine:
# documented reference numbers, exact cosine-mode decay, mass conservation, gradients against finite
# differences, the failure penalty and a short training run reaching a loss threshold; the
# HySoMi training checks are in hysomi_tests.jl.

using Random: Xoshiro
using SoilSciML
using SoilSciML: PENALTY, DriverCoefficients, SOCData, collocation_field, driver_fields,
                 flat_weights, initial_weights, soc_chain, soc_parameters, time_gradient,
                 total_carbon
using Statistics: mean, var
using Test

"""Tight solver settings for checks against exact solutions, plus the given `key => value` pairs."""
tight(entries::Pair{String}...) = Dict{String,Any}("solver" => Dict{String,Any}(
    "rtol" => 1e-10, "atol" => 1e-12, "max_steps" => 200_000), entries...)

"""
    soc_case(; nz, years, step) -> Dict

A Case-4-like SOC problem: reference truth on `nz` nodes, yearly drivers, targets at every
output time (the terminal loss uses the last).
"""
function soc_case(; nz = 10, years = 10.0, step = 5.0)
    depth = collect(range(0.0, 1.0; length = nz))
    times = collect(0.0:step:years)
    initial = 1.2 .* exp.(-2.0 .* depth)
    truth = simulate_soc_truth(depth, times, initial,
                               tight("truth" => "reference", "boundary" => "mirror"))
    driver_times = collect(0.0:1.0:years)
    drivers = zeros(length(driver_times), nz, 3)
    for (i, t) in enumerate(driver_times)
        ph, cec, clay = driver_fields(depth, t, DriverCoefficients())
        drivers[i, :, 1] .= ph
        drivers[i, :, 2] .= cec
        drivers[i, :, 3] .= clay
    end
    return Dict{String,Any}("depth" => depth, "times" => times, "initial" => initial,
                            "driver_times" => driver_times, "drivers" => drivers,
                            "targets" => truth.soc, "diffusion" => 1e-3, "advection" => 1e-3,
                            "boundary" => "mirror")
end

"""Small networks for the UDE checks; keyword arguments add or replace top-level sections."""
ude_settings(; solver = Dict{String,Any}("rtol" => 1e-8, "atol" => 1e-10), kwargs...) =
    Dict{String,Any}("network" => Dict{String,Any}("h1" => 4, "h2" => 4, "activation" => "tanh"),
                     "loss" => Dict{String,Any}("target" => "trajectory", "lambda_coll" => 0.1),
                     "solver" => solver,
                     (String(key) => value for (key, value) in kwargs)...)

"""Seeded flat weights for the networks of `settings`."""
seeded_weights(settings, seed) = initial_weights(soc_chain(settings), seed)

@testset "SoilSciML" begin
    @testset "reference truth matches the documented numbers" begin
        depth = collect(range(0.0, 1.0; length = 30))
        out = simulate_soc_truth(depth, collect(0.0:1.0:50.0), 1.2 .* exp.(-2.0 .* depth),
                                 tight("truth" => "reference"))
        final = out.soc[end, :]
        @test out.code == 0
        @test isapprox(mean(final), 0.657; atol = 0.01)
        @test isapprox(var(final; corrected = false), 0.205; atol = 0.01)
        @test isapprox(final[1], 1.504; atol = 0.01)
        @test isapprox(final[end], 0.192; atol = 0.01)
    end

    @testset "cosine mode $mode decays at the discrete Laplacian eigenvalue" for mode in (1, 3)
        nz, diffusion = 30, 0.01
        dz = 1.0 / (nz - 1)
        θ = mode * π / (nz - 1)
        initial = cos.(θ .* (0:(nz - 1)))
        eigenvalue = (2cos(θ) - 2) / dz^2
        times = [0.0, 5.0, 10.0]
        out = simulate_soc_truth(collect(range(0.0, 1.0; length = nz)), times, initial,
                                 tight("truth" => "transport_only", "boundary" => "mirror",
                                       "diffusion" => diffusion, "advection" => 0.0))
        exact = exp.(eigenvalue * diffusion .* times) .* initial'
        @test out.code == 0
        @test isapprox(out.soc, exact; rtol = 1e-6, atol = 1e-12)
    end

    @testset "zero_flux conserves total carbon with advection" begin
        depth = collect(range(0.0, 1.0; length = 30))
        out = simulate_soc_truth(depth, collect(range(0.0, 50.0; length = 11)),
                                 1.2 .* exp.(-2.0 .* depth),
                                 tight("truth" => "transport_only", "boundary" => "zero_flux",
                                       "diffusion" => 1e-2, "advection" => 1e-2))
        mass = [total_carbon(out.soc[i, :], depth[2]) for i in axes(out.soc, 1)]
        @test all(isapprox.(mass, mass[1]; rtol = 1e-9))
    end

    @testset "a failed solve is a status, not a crash" begin
        depth = collect(range(0.0, 1.0; length = 30))
        out = simulate_soc_truth(depth, [0.0, 50.0], ones(30),
                                 Dict{String,Any}("solver" => Dict{String,Any}("max_steps" => 2)))
        @test out.code == 1
        @test_throws ArgumentError simulate_soc_truth(depth, [0.0, 1.0], ones(30),
                                                      Dict{String,Any}("boundary" => "periodic"))
    end

    @testset "microbial model conserves carbon for random parameters in the box" begin
        lower = [0.01, 0.01, 0.01, 0.3, 0.1, 1.0, 1e-4, 1e-3, 0.01, 0.0, 0.1, 1e-4, 0.0]
        upper = [0.3, 1.0, 1.0, 0.85, 20.0, 50.0, 1e-2, 0.05, 1.0, 1.0, 0.9, 1e-2, 1.0]
        rng = Xoshiro(0)
        params = lower' .+ (upper .- lower)' .* rand(rng, 8, 13)
        initial = [0.025, 0.225, 15.0, 1.0, 0.0, 0.0]
        times = collect(0.0:1.0:168.0)
        out = simulate_pbm(params, initial, times, tight())
        @test size(out.states) == (8, 169, 6)
        ok = out.codes .== 0
        @test count(ok) >= 6
        totals = dropdims(sum(out.states[ok, :, :]; dims = 3); dims = 3)
        @test maximum(abs.(totals .- sum(initial)) ./ sum(initial)) < 1e-10
        @test all(out.states[ok, end, 6] .> 0)  # respiration happened
    end

    @testset "flat weights round-trip through the Lux parameters" begin
        chain = soc_chain(ude_settings())
        weights = initial_weights(chain, 3)
        @test size(weights["P.W1"]) == (4, 6)
        @test size(weights["R.W3"]) == (1, 4)
        @test maximum(abs, weights["P.W3"]) <= 0.1 / sqrt(4)
        @test flat_weights(soc_parameters(weights, chain)) == weights
        bad = copy(weights)
        bad["P.W2"] = zeros(3, 4)
        @test_throws ArgumentError soc_parameters(bad, chain)
    end

    @testset "time derivative of the collocation field" begin
        times = [0.0, 1.0, 3.0, 4.5, 7.0]
        quadratic = hcat(times .^ 2, 3 .* times .^ 2)
        rate = time_gradient(quadratic, times)
        @test rate[2:(end - 1), 1] ≈ 2 .* times[2:(end - 1)]  # exact inside for quadratics
        @test rate[1, 2] ≈ 3 * (1.0^2 - 0.0^2) / 1.0
        nz = 3
        targets = [0.5 + 0.1 * t + 0.2 * z for t in times, z in 1:nz]
        targets[2, 2] = NaN
        data = SOCData(Dict{String,Any}(
            "depth" => [0.0, 0.5, 1.0], "times" => times, "initial" => targets[1, :],
            "driver_times" => [0.0], "drivers" => ones(1, nz, 3), "targets" => targets))
        field = collocation_field(data, Dict{String,Any}())
        clean = [0.5 + 0.1 * t + 0.2 * z for t in times, z in 1:nz]
        @test field.soc ≈ clean  # local-linear smoothing reproduces linear trends
        @test all(field.rate .≈ 0.1)
    end

    @testset "loss gradient through the solver matches finite differences ($sensealg)" for sensealg in (
        "interpolating", "backsolve", "quadrature")
        problem = soc_case()
        settings = ude_settings(; sensealg = sensealg,
                                solver = Dict{String,Any}("rtol" => 1e-10, "atol" => 1e-12))
        weights = seeded_weights(settings, 7)
        result = soc_loss_gradient(problem, weights, settings)
        @test result.code == 0
        @test result.loss ≈ soc_loss(problem, weights, settings).total rtol = 1e-8
        for key in ("P.W1", "R.W2", "P.b3", "R.b1"), index in (1, 2)
            h = 1e-4
            plus, minus = deepcopy(weights), deepcopy(weights)
            plus[key][index] += h
            minus[key][index] -= h
            fd = (soc_loss(problem, plus, settings).total -
                  soc_loss(problem, minus, settings).total) / 2h
            @test isapprox(result.gradient[key][index], fd; rtol = 1e-4, atol = 1e-6)
        end
    end

    @testset "a failed solve returns the penalty with a zero gradient" begin
        problem = soc_case()
        settings = ude_settings(; solver = Dict{String,Any}("max_steps" => 2))
        weights = seeded_weights(settings, 7)
        result = soc_loss_gradient(problem, weights, settings)
        @test result.loss == PENALTY
        @test result.code == 1
        @test all(all(iszero, g) for g in values(result.gradient))
        @test soc_loss(problem, weights, settings).total == PENALTY
    end

    @testset "short training run reaches a loss threshold" begin
        problem = soc_case(; years = 10.0, step = 10.0)
        settings = ude_settings(;
            loss = Dict{String,Any}("target" => "terminal"),
            train = Dict{String,Any}("adam_iters" => 150, "lr" => 1e-2, "second_iters" => 50,
                                     "patience" => 1000))
        weights = seeded_weights(settings, 0)
        initial_loss = soc_loss(problem, weights, settings).total
        fit = fit_soc(problem, settings, weights)
        @test length(fit.history["adam"]) == 150
        @test fit.stop_reasons["adam"] == "budget"
        @test fit.n_failed == 0
        @test fit.final_loss < 1e-3
        @test fit.final_loss < 0.01 * initial_loss
        @test length(fit.step_seconds) == sum(length, values(fit.history))
        prediction = predict_soc(problem, fit.weights, settings)
        @test prediction.code == 0
        @test size(prediction.soc) == (2, 10)
        @test sum(abs2, prediction.soc[end, :] .- problem["targets"][end, :]) / 10 ≈ fit.final_loss rtol = 1e-3
    end
end

include("hysomi_tests.jl")
