# HySoMi training checks (included by runtests.jl): the network's masked batch statistics, the
# loss weightings, the constraint table, the PBM loss gradient against finite differences,
# carbon conservation of the batched training solve, the validation criterion of early stopping
# and the epoch it keeps, and training runs on the fixture data of
# hysomi_fixture.toml (written by hysomi_fixture.py from the Python generator, with the JAX
# engine's numbers on the same data and settings for five seeds).

using Lux: Lux
using Random: Xoshiro, randn
using SoilSciML: HySoMiModel, adaptive, fit_hysomi, normalised, predict_hysomi, sample_terms,
                 soft_violations, solve_sample, trait_network
using Statistics: mean
using TOML
using Zygote: Zygote

const FIXTURE = TOML.parsefile(joinpath(@__DIR__, "hysomi_fixture.toml"))

"""Rows of floats (TOML arrays of arrays) as an `n × k` matrix."""
rows_matrix(rows) = permutedims(reduce(hcat, [Float64.(row) for row in rows]))

"""
    fixture_data() -> (data, test_states, test_params)

The fixture as `fit_hysomi` data; the pools are simulated here from the true parameters.
"""
function fixture_data()
    d = FIXTURE["data"]
    params, traits = rows_matrix(d["params"]), rows_matrix(d["traits"])
    times, initial = Float64.(d["times"]), Float64.(d["initial"])
    states = simulate_pbm(params, initial, times, tight()).states
    split = String.(d["split"])
    pick(name) = findall(==(name), split)
    data = Dict{String,Any}("times" => times, "initial" => initial, "lower" => Float64.(d["lower"]),
                            "upper" => Float64.(d["upper"]), "constraints" => d["constraints"],
                            "traits_test" => traits[pick("test"), :])
    for name in ("train", "validation")
        data["traits_$name"] = traits[pick(name), :]
        data["states_$name"] = states[pick(name), :, :]
    end
    return data, states[pick("test"), :, :], params[pick("test"), :]
end

"""The fixture's training settings with the given top-level and solver entries replaced."""
function train_settings(; solver = Dict{String,Any}(), entries...)
    settings = deepcopy(FIXTURE["train"])
    merge!(settings["solver"], solver)
    settings["sensealg"] = "forwarddiff"
    for (key, value) in entries
        settings[String(key)] = value
    end
    return settings
end

"""The JAX engine's worst value over the reference seeds plus their spread."""
jax_bound(name) = (v = Float64.(FIXTURE["reference"][name]); maximum(v) + maximum(v) - minimum(v))

"""Sum over constraints of the mean soft violation over the solved samples (Python's metric)."""
function constraint_sum(model, params, states, codes)
    solved = findall(iszero, codes)
    violations = [soft_violations(model.constraints, permutedims(states[i, :, :]), model.pbm.times,
                                  params[i, :], model.temperature) for i in solved]
    return sum(mean(violations))
end

"""Mean CO2 MSE over samples of predicted and target pools `n × nt × 6`."""
co2_mse(states, targets) = mean(mean(abs2, states[i, :, 6] .- targets[i, :, 6]) for i in axes(states, 1))

"""
The checks every history makes: the epoch kept is the first argmin of the recorded criterion,
and the weights returned are that epoch's (their validation CO2 MSE is the recorded one).
"""
function check_kept_epoch(fit, data, settings)
    h = fit.history
    @test length(h["selection"]) == length(h["train_loss"]) == length(h["validation_failed"])
    best = Int(only(h["best_epoch"]))
    @test best == argmin(h["selection"])
    again = predict_hysomi(fit.weights, data["traits_validation"], data, settings)
    @test co2_mse(again.states, data["states_validation"]) ≈ h["validation_mse_co2"][best] rtol = 1e-6
    return best
end

@testset "HySoMi" begin
    data, test_states, test_params = fixture_data()
    n_traits = size(data["traits_train"], 2)

    @testset "batch statistics ignore padded samples" begin
        net = trait_network(5, 3, 8, 2)
        ps, st = Lux.setup(Xoshiro(0), net)
        x = randn(Xoshiro(1), 5, 7)
        out, state = net((x, ones(7)), ps, st)
        out_padded, state_padded = net((hcat(x, fill(1e3, 5, 3)), vcat(ones(7), zeros(3))), ps, st)
        @test out_padded[:, 1:7] ≈ out rtol = 1e-12
        @test state_padded.hidden.layer_2.norm.running_var ≈ state.hidden.layer_2.norm.running_var
        h = ps.hidden.layer_1.dense.weight * x .+ ps.hidden.layer_1.dense.bias
        @test state.hidden.layer_1.norm.running_mean ≈ 0.1 .* vec(mean(h; dims = 2))
        out_test, _ = net((x, ones(7)), ps, Lux.testmode(state))
        @test !(out_test ≈ out)  # test mode normalises with the running statistics
    end

    @testset "loss weightings" begin
        terms, scales = [0.5, 2.0], [1.0, 2.0]
        @test first(adaptive(terms, scales, zeros(2))) ≈ 0.5 / 2 + log(2.0) + 2.0 / 8 + log(5.0)
        gradient = Zygote.gradient(s -> first(adaptive(terms, s, zeros(2))), scales)[1]
        @test gradient ≈ [-0.5 + 1.0, -2.0 / 8 + 4.0 / 5]
        terms = [0.5, 2.0, 0.0]
        loss, running = normalised(terms, ones(3), zeros(3))
        @test loss ≈ 2.0 && running == terms
        loss, running = normalised(2 .* terms, ones(3), running)
        @test running ≈ 0.9 .* terms .+ 0.1 .* 2 .* terms
        @test loss ≈ 2 * 2 / 1.1
    end

    @testset "the constraint table comes from Python" begin
        model = HySoMiModel(data, train_settings(), n_traits)
        @test [c.label for c in model.constraints] == [row["label"] for row in data["constraints"]]
        @test model.term_names[1:2] == ["mse_co2", "P1"]
        exact = [c.label in ("P1", "P2", "P3", "P4", "P11", "C1", "C2", "C3") for c in model.constraints]
        for i in axes(test_states, 1)  # the generator kept only samples that satisfy them
            v = soft_violations(model.constraints, permutedims(test_states[i, :, :]),
                                model.pbm.times, test_params[i, :], model.temperature)
            @test maximum(v[exact]) < 1e-6
        end
        bad = deepcopy(data)
        bad["constraints"][1]["lhs"] = "mean_biomass"
        @test_throws ArgumentError HySoMiModel(bad, train_settings(), n_traits)
    end

    @testset "PBM loss gradient matches finite differences ($sensealg)" for sensealg in (
        "forwarddiff", "interpolating")
        settings = train_settings(; sensealg = sensealg,
                                  solver = Dict{String,Any}("rtol" => 1e-10, "atol" => 1e-12,
                                                            "max_steps" => 200_000))
        model = HySoMiModel(data, settings, n_traits)
        θ = clamp.(test_params[1, :] .* [1.3, 0.7, 1.2, 0.9, 1.1, 1.2, 0.8, 1.1, 0.9, 0.8, 1.1, 1.2, 0.9],
                   model.lower, model.lower .+ model.span)
        target = permutedims(test_states[2, :, :])
        loss(θ) = sum(first(sample_terms(model, θ, target)))
        @test last(sample_terms(model, θ, target)) == 0
        gradient = Zygote.gradient(loss, θ)[1]
        scale = maximum(abs, gradient .* model.span)
        for j in eachindex(θ)  # steps and tolerances in units of each parameter's box
            h = 1e-4 * model.span[j]
            plus, minus = copy(θ), copy(θ)
            plus[j] += h
            minus[j] -= h
            fd = (loss(plus) - loss(minus)) / 2h
            @test isapprox(gradient[j] * model.span[j], fd * model.span[j]; rtol = 1e-4,
                           atol = 1e-6 * scale)
        end
    end

    @testset "the batched training solve conserves carbon" begin
        model = HySoMiModel(data, train_settings(; solver = tight()["solver"]), n_traits)
        for i in axes(test_params, 1)
            totals = vec(sum(Array(solve_sample(model.pbm, test_params[i, :], model.initial)); dims = 1))
            @test maximum(abs.(totals .- sum(model.initial))) / sum(model.initial) < 1e-10
        end
    end

    @testset "a short training run lowers the loss and the constraint sum" begin
        settings = train_settings()
        fit = fit_hysomi(data, settings)
        loss = fit.history["train_loss"]
        @test length(loss) == settings["epochs"]
        @test size(fit.history["validation_terms"]) == (settings["epochs"], 15)
        @test all(iszero, fit.history["failed_solves"]) && all(iszero, fit.codes)
        @test all(iszero, fit.history["validation_failed"])
        # the default criterion, co2_constraints: validation CO2 MSE + the constraint sum
        h = fit.history
        @test h["selection"] ≈ h["validation_mse_co2"] .+ h["validation_constraint_sum"]
        @test h["validation_mse_co2"] ≈ h["validation_terms"][:, 1]  # hysomi's first term
        @test h["validation_constraint_sum"] ≈ vec(sum(h["validation_terms"][:, 2:end]; dims = 2))
        check_kept_epoch(fit, data, settings)
        @test loss[end] < loss[1]
        @test loss[end] < jax_bound("final_train_loss")
        model = HySoMiModel(data, settings, n_traits)
        @test constraint_sum(model, fit.params, fit.states, fit.codes) < jax_bound("constraint_sum")
        again = predict_hysomi(fit.weights, data["traits_test"], data, settings)
        @test again.params ≈ fit.params rtol = 1e-12
        @test again.states ≈ fit.states rtol = 1e-8
    end

    @testset "the criterion follows selection ($selection, $name)" for (selection, name) in (
        ("co2", "unconstrained"), ("objective", "hysomi"), ("co2_constraints", "all_states"))
        settings = train_settings(; selection = selection, model = name, epochs = 3)
        fit = fit_hysomi(data, settings)
        h = fit.history
        check_kept_epoch(fit, data, settings)
        if selection == "co2"
            @test h["selection"] == h["validation_mse_co2"]
        elseif selection == "objective"
            @test h["selection"] == h["validation_loss"]
        else  # every PBM model is scored on the configured constraints, whatever its loss
            @test size(h["validation_terms"], 2) == 1
            @test all(isfinite, h["validation_constraint_sum"])  # NaN without a table
            @test h["selection"] ≈ h["validation_mse_co2"] .+ h["validation_constraint_sum"]
        end
    end

    @testset "failed solves are masked and counted" begin
        fit = fit_hysomi(data, train_settings(; epochs = 2, solver = Dict{String,Any}("max_steps" => 8)))
        @test fit.history["failed_solves"] == fill(size(data["traits_train"], 1), 2)
        # a failed validation solve scores +Inf: no epoch is kept, the initial weights are
        @test fit.history["validation_failed"] == fill(size(data["traits_validation"], 1), 2)
        @test all(isinf, fit.history["selection"]) && only(fit.history["best_epoch"]) == 0
        @test all(w -> all(isfinite, w), values(fit.weights))
        @test all(!iszero, fit.codes)
    end

    @testset "the ml baseline predicts CO2 only" begin
        settings = train_settings(; model = "ml", epochs = 2)
        fit = fit_hysomi(data, settings)
        @test all(isnan, fit.params)
        @test fit.history["selection"] == fit.history["validation_mse_co2"]  # no constraints
        @test all(isnan, fit.history["validation_constraint_sum"])
        check_kept_epoch(fit, data, settings)
        @test all(isfinite, fit.states[:, :, 6]) && all(isnan, fit.states[:, :, 1:5])
        @test fit.term_names == ["mse_co2"]
    end
end
