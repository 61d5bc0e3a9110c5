namespace SegmentAnything.Kernels;

/// <summary>
/// nn.Linear: y[rows, out] = x[rows, in] · Wᵀ + b. The weight is packed once into the GEMM's panel
/// layout, so each forward only packs the activations; the bias is added in the GEMM's store.
/// </summary>
public sealed class Linear
{
    public int InFeatures { get; }
    public int OutFeatures { get; }
    private readonly PackedMatrix? _weight;
    private readonly float[]? _bias;
    /// <summary>Set when the weight came from an int8 checkpoint and dynamic int8 execution is on.</summary>
    private readonly Int8Linear? _int8;

    /// <param name="weight">PyTorch layout [out, in].</param>
    public Linear(float[] weight, float[]? bias, int inFeatures, int outFeatures)
    {
        ArgumentNullException.ThrowIfNull(weight);
        if (inFeatures < 0 || outFeatures < 0) throw new ArgumentException("Negative Linear size.");
        if (weight.Length != (long)inFeatures * outFeatures) throw new ArgumentException("Linear weight has the wrong size.");
        if (bias is not null && bias.Length != outFeatures) throw new ArgumentException("Linear bias has the wrong size.");
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        _int8 = Int8Linear.ForWeight(weight, inFeatures, outFeatures);
        if (_int8 is null) _weight = Gemm.PackB(weight, inFeatures, outFeatures, inFeatures, bTransposed: true);
        _bias = bias;
    }

    /// <summary>A layer packed from a weight span (e.g. a reused load buffer); the span is not kept.</summary>
    public Linear(ReadOnlySpan<float> weight, float[]? bias, int inFeatures, int outFeatures)
    {
        if (inFeatures < 0 || outFeatures < 0) throw new ArgumentException("Negative Linear size.");
        if (weight.Length < (long)inFeatures * outFeatures) throw new ArgumentException("Linear weight has the wrong size.");
        if (bias is not null && bias.Length != outFeatures) throw new ArgumentException("Linear bias has the wrong size.");
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        _weight = Gemm.PackB(weight[..(inFeatures * outFeatures)], inFeatures, outFeatures, inFeatures, bTransposed: true);
        _bias = bias;
    }

    /// <summary>A layer run by the dynamic int8 kernels.</summary>
    public Linear(Int8Linear int8, float[]? bias)
    {
        ArgumentNullException.ThrowIfNull(int8);
        if (bias is not null && bias.Length != int8.Weight.N) throw new ArgumentException("Linear bias has the wrong size.");
        InFeatures = int8.Weight.K;
        OutFeatures = int8.Weight.N;
        _int8 = int8;
        _bias = bias;
    }

    public void Forward(ReadOnlySpan<float> x, Span<float> y, int rows)
    {
        if (rows < 0) throw new ArgumentOutOfRangeException(nameof(rows));
        if (x.Length < (long)rows * InFeatures) throw new ArgumentException("Linear input too small.");
        if (y.Length < (long)rows * OutFeatures) throw new ArgumentException("Linear output too small.");
        if (_int8 is not null) _int8.Forward(x, InFeatures, y, OutFeatures, rows, _bias, accumulate: false);
        else Gemm.MatMul(rows, x, InFeatures, false, _weight!, y, OutFeatures, _bias);
    }

    /// <summary>Strided form: input rows every <paramref name="ldx"/> floats, output rows every <paramref name="ldy"/>.</summary>
    public void Forward(ReadOnlySpan<float> x, int ldx, Span<float> y, int ldy, int rows, bool accumulate = false)
    {
        if (_int8 is not null) _int8.Forward(x, ldx, y, ldy, rows, _bias, accumulate);
        else Gemm.MatMul(rows, x, ldx, false, _weight!, y, ldy, accumulate ? default : _bias, 1f, accumulate);
    }

    /// <summary>y = gelu(x·Wᵀ + b), the activation applied to each block of y while it is in cache.</summary>
    internal void ForwardGelu(ReadOnlySpan<float> x, Span<float> y, int rows)
    {
        CheckSizes(x, y, rows);
        if (_int8 is not null || rows == 0 || InFeatures == 0)
        {
            Forward(x, y, rows);
            Activations.Gelu(y[..(rows * OutFeatures)]);
        }
        else Gemm.MatMul(rows, x, InFeatures, _weight!, y, OutFeatures, _bias, GemmEpilogue.Gelu);
    }

    /// <summary>y = x·Wᵀ + b, then residual += y (the official x + f(x) order), each block while it is in cache.</summary>
    internal void ForwardAddInto(ReadOnlySpan<float> x, Span<float> y, int rows, Span<float> residual)
    {
        CheckSizes(x, y, rows);
        if (residual.Length < (long)rows * OutFeatures) throw new ArgumentException("Linear residual too small.");
        if (_int8 is not null || rows == 0 || InFeatures == 0)
        {
            Forward(x, y, rows);
            Elementwise.Add(residual[..(rows * OutFeatures)], y);
        }
        else Gemm.MatMul(rows, x, InFeatures, _weight!, y, OutFeatures, _bias, GemmEpilogue.AddInto, residual, OutFeatures);
    }

    private void CheckSizes(ReadOnlySpan<float> x, ReadOnlySpan<float> y, int rows)
    {
        if (rows < 0) throw new ArgumentOutOfRangeException(nameof(rows));
        if (x.Length < (long)rows * InFeatures) throw new ArgumentException("Linear input too small.");
        if (y.Length < (long)rows * OutFeatures) throw new ArgumentException("Linear output too small.");
    }

    public float[] Forward(ReadOnlySpan<float> x, int rows)
    {
        var y = new float[rows * OutFeatures];
        Forward(x, y, rows);
        return y;
    }
}
