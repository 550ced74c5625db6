"""
    SoilSciMLPythonCallExt

The bridge between Python and SoilSciML, loaded when PythonCall is (as it is under juliacall).
The only place that knows about PythonCall types: every argument is converted to plain Julia
(`Array`, `Dict{String,Any}`, `Vector{Any}`, numbers, strings) before an entry point sees it.
Results go back as NamedTuples of Julia arrays, which juliacall exposes to numpy without copying.
"""
module SoilSciMLPythonCallExt

using PythonCall: Py, PyArray, PyDict, PyList, pyconvert, pyrepr
using SoilSciML: SoilSciML

"""
    plain(x)

`x` with every PythonCall wrapper replaced by a plain Julia value: arrays are copied into
`Array`s with the same logical indices as in numpy, dicts become `Dict{String,Any}` and lists
`Vector{Any}`, recursively. A Python object that PythonCall has no rule for is an
`ArgumentError` (Python's `ValueError`), not a `Py` handed on.
"""
plain(x) = x
function plain(x::Py)
    value = pyconvert(Any, x)
    value isa Py &&
        throw(ArgumentError("cannot pass the Python object $(pyrepr(String, x)) to SoilSciML"))
    return plain(value)
end
plain(x::PyArray) = Array(x)
plain(x::PyDict) = Dict{String,Any}(pyconvert(String, k) => plain(v) for (k, v) in x)
plain(x::PyList) = Any[plain(v) for v in x]
plain(x::Tuple) = map(plain, x)

"""
    call(f, args...)

Call the SoilSciML entry point `f` with every argument converted by `plain`.
"""
function call(f::Function, args...)
    parentmodule(f) === SoilSciML ||
        throw(ArgumentError("only SoilSciML entry points can be called through the bridge"))
    return f(map(plain, args)...)
end

end # module SoilSciMLPythonCallExt
