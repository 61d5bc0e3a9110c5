using System.Runtime.Intrinsics;
using SegmentAnything.Kernels;

namespace SegmentAnything.Modeling;

/// <summary>
/// The first upscaling product keys·W + bias of the transformer's final image tokens, reassociated through
/// the blocks' image-token LayerNorms. Block b maps its input x_b = keys_{b-1} + P_b·U_b + bo_b to
/// keys_b = γ_b ⊙ (x_b − μ_b)·r_b + β_b, affine per row, so with M_b = diag(γ_b)·M_{b+1} (M_D = W):
/// <code>
/// keys_{D-1}·W = G_0·(src·M_0) + Σ_b G_b·(P_b·(U_b·M_b) + bo_b·M_b − μ_b·1ᵀM_b) + Σ_b G_{b+1}·β_b·M_{b+1}
/// </code>
/// with G_b = r_b·…·r_{D-1} per image token (G_D = 1). src·M_0 is computed once per image; per prompt the
/// work is the rank heads·tokens products, instead of the full [tokens, dim]·[dim, n] product.
/// </summary>
internal sealed class MaskDecoderKeyProduct
{
    private readonly int _layers, _dim, _n;
    private readonly PackedMatrix[] _m;   // M_b [dim, n]
    private readonly float[] _extras;     // [3·layers, n]: per block a_b = bo_b·M_b, s_b = 1ᵀM_b, e_b = β_b·M_{b+1} (+ bias for the last)

    [ThreadStatic] private static float[]? t_lhs, t_g, t_g0;

    /// <param name="weight">The product's weight [dim, n].</param>
    /// <param name="bias">Its bias [n].</param>
    /// <param name="blocks">Per block, the image tokens' final LayerNorm and the image→token output bias.</param>
    public MaskDecoderKeyProduct(float[] weight, float[] bias, int dim, int n, (LayerNormParams Norm, float[] OutBias)[] blocks)
    {
        (_layers, _dim, _n) = (blocks.Length, dim, n);
        _m = new PackedMatrix[_layers];
        _extras = new float[3 * _layers * n];
        var next = new double[dim * n];   // M_{b+1}
        for (int i = 0; i < next.Length; i++) next[i] = weight[i];
        var cur = new double[dim * n];
        for (int b = _layers - 1; b >= 0; b--)
        {
            var (norm, bo) = blocks[b];
            var mf = new float[dim * n];
            for (int i = 0; i < dim; i++)
                for (int j = 0; j < n; j++) mf[i * n + j] = (float)(cur[i * n + j] = norm.Weight[i] * next[i * n + j]);
            _m[b] = Gemm.PackB(mf, dim, n, n, bTransposed: false);
            for (int j = 0; j < n; j++)
            {
                double a = 0, s = 0, e = b == _layers - 1 ? bias[j] : 0;
                for (int i = 0; i < dim; i++)
                {
                    a += bo[i] * cur[i * n + j];
                    s += cur[i * n + j];
                    e += norm.Bias[i] * next[i * n + j];
                }
                _extras[(3 * b) * n + j] = (float)a;
                _extras[(3 * b + 1) * n + j] = (float)s;
                _extras[(3 * b + 2) * n + j] = (float)e;
            }
            (next, cur) = (cur, next);
        }
    }

    public int Layers => _layers;
    public int Depth(int cols) => _layers * cols + 3 * _layers;

    /// <summary>The per-image part src·M_0 [tokens, n] from token-major image tokens [tokens, dim].</summary>
    public float[] ImageProduct(float[] src, int tokens)
    {
        var s = GC.AllocateUninitializedArray<float>(tokens * _n);
        Gemm.MatMul(tokens, src, _dim, false, _m[0], s, _n);
        return s;
    }

    /// <summary>Fills the prompt's right-hand operand [layers·cols + 3·layers, n]: each U_b·M_b, then the constant rows.</summary>
    public void PrepareRhs(DecoderKeyFactors f)
    {
        int k = Depth(f.Cols);
        if (f.Rhs is null || f.Rhs.Length != k * _n)
        {
            f.Rhs = GC.AllocateUninitializedArray<float>(k * _n);
            _extras.CopyTo(f.Rhs, _layers * f.Cols * _n);
        }
        for (int b = 0; b < _layers; b++)
            Gemm.MatMul(f.Cols, f.LayerValues(b), _dim, false, _m[b], f.Rhs.AsSpan(b * f.Cols * _n), _n);
    }

    /// <summary>As <see cref="PrepareRhs(DecoderKeyFactors)"/> into a caller's buffer [<see cref="Depth"/>(cols), n].</summary>
    public void PrepareRhs(DecoderKeyFactors f, Span<float> rhs)
    {
        int k = Depth(f.Cols);
        if (f.Layers < _layers || rhs.Length < k * _n) throw new ArgumentException("Right-hand operand buffer too small.");
        _extras.CopyTo(rhs[(_layers * f.Cols * _n)..]);
        for (int b = 0; b < _layers; b++)
            Gemm.MatMul(f.Cols, f.LayerValues(b), _dim, false, _m[b], rhs[(b * f.Cols * _n)..], _n);
    }

    /// <summary>
    /// The prompt's left operand for tokens [<paramref name="tok0"/>, tok0 + tokens), stored transposed
    /// [<see cref="Depth"/>(cols), tokens], and the per-image product's row scale G_0 [tokens]: keys·W + bias =
    /// G_0 ⊙ (src·M_0) + lhsᵀ·rhs. It depends only on the factors and the number of blocks, not on W.
    /// </summary>
    public unsafe void Lhs(DecoderKeyFactors f, int tok0, int tokens, Span<float> lhs, Span<float> g0)
    {
        int cols = f.Cols, k = Depth(cols), nk = f.Tokens, d = _layers;
        if (f.Layers < d || tok0 < 0 || tok0 + tokens > nk || lhs.Length < k * tokens || g0.Length < tokens)
            throw new ArgumentException("Key factor rows out of range.");
        float[] g = Buffer(ref t_g, (d + 1) * tokens);
        fixed (float* pg = g, ps = f.Stats, pp = f.ProbsT)
        fixed (float* pl = lhs)
        {
            // G_b = r_b·G_{b+1}, G_D = 1.
            new Span<float>(pg + d * tokens, tokens).Fill(1f);
            for (int b = d - 1; b >= 0; b--)
                Mul(pg + b * tokens, pg + (b + 1) * tokens, ps + (2 * b + 1) * nk + tok0, 1f, tokens);
            // Each block's probabilities scaled by G_b, then the coefficient rows.
            for (int b = 0; b < d; b++)
            {
                for (int j = 0; j < cols; j++)
                    Mul(pl + (b * cols + j) * tokens, pp + ((long)b * cols + j) * nk + tok0, pg + b * tokens, 1f, tokens);
                float* e = pl + (d * cols + 3 * b) * tokens;
                new ReadOnlySpan<float>(pg + b * tokens, tokens).CopyTo(new Span<float>(e, tokens));
                Mul(e + tokens, pg + b * tokens, ps + 2 * b * nk + tok0, -1f, tokens);
                new ReadOnlySpan<float>(pg + (b + 1) * tokens, tokens).CopyTo(new Span<float>(e + 2 * tokens, tokens));
            }
        }
        g.AsSpan(0, tokens).CopyTo(g0);
    }

    /// <summary>
    /// Rows [<paramref name="tok0"/>, tok0 + tokens) of keys·W + bias into <paramref name="dst"/> [tokens, n],
    /// from the per-image product and the prompt's factors (<see cref="PrepareRhs"/> first). On the calling thread.
    /// </summary>
    public unsafe void Rows(DecoderKeyFactors f, float[] imageProduct, int tok0, int tokens, Span<float> dst)
    {
        int k = Depth(f.Cols), nk = f.Tokens;
        if (f.Rhs is null) throw new InvalidOperationException("Key factors have no right-hand operand.");
        if (tok0 < 0 || tok0 + tokens > nk || dst.Length < tokens * _n || imageProduct.Length < nk * _n)
            throw new ArgumentException("Key product rows out of range.");
        float[] lhs = Buffer(ref t_lhs, k * tokens), g0 = Buffer(ref t_g0, tokens);
        Lhs(f, tok0, tokens, lhs, g0);
        fixed (float* pg = g0, pi = imageProduct, pd = dst)
            for (int t = 0; t < tokens; t++)
                Scale(pd + (long)t * _n, pi + (long)(tok0 + t) * _n, pg[t], _n);
        Gemm.MatMulCore(Gemm.Isa, 1, tokens, _n, k, lhs, tokens, true, f.Rhs, _n, false, dst, _n, 1f, true, default, default);
    }

    private static unsafe void Mul(float* dst, float* a, float* b, float s, int n)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var vs = Vector512.Create(s);
            for (; i <= n - 16; i += 16) (Vector512.Load(a + i) * Vector512.Load(b + i) * vs).Store(dst + i);
        }
        for (; i < n; i++) dst[i] = a[i] * b[i] * s;
    }

    private static unsafe void Scale(float* dst, float* a, float s, int n)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var vs = Vector512.Create(s);
            for (; i <= n - 16; i += 16) (Vector512.Load(a + i) * vs).Store(dst + i);
        }
        for (; i < n; i++) dst[i] = a[i] * s;
    }

    private static float[] Buffer(ref float[]? slot, int length)
    {
        if (slot is null || slot.Length < length) slot = GC.AllocateUninitializedArray<float>(length);
        return slot;
    }
}
