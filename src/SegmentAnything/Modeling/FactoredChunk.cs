using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using SegmentAnything.Kernels;

namespace SegmentAnything.Modeling;

/// <summary>
/// The image side of a chunk of prompts' attentions with the image tokens in factored form. A prompt's scores
/// are kept token-major [(token, head), image token], so for one head the rows of every prompt in the chunk are
/// evenly strided: each per-image per-head operand (2 MB for MobileSAM's 64x64 grid) is streamed once per chunk
/// in one product of all the chunk's token rows, instead of once per prompt in products of a few rows.
/// </summary>
internal static class FactoredChunk
{
    /// <summary>out[(row, head), tokens] (+)= q[row, head's columns] · heads[h] for <paramref name="rows"/> rows.</summary>
    public static void HeadProducts(ReadOnlySpan<float> q, int ldq, int rows, PackedMatrix[] heads, Span<float> output, int nk)
    {
        int hd = heads[0].K;
        for (int h = 0; h < heads.Length; h++)
            Gemm.MatMul(rows, q[(h * hd)..], ldq, false, heads[h], output[(h * nk)..], heads.Length * nk);
    }

    /// <summary>
    /// One prompt's unscaled scores [(token, head), tokens] for its first <paramref name="nq"/> tokens, from the chunk's
    /// per-image parts (<paramref name="image"/>, <paramref name="pe"/>, this prompt's slices) and the prompt's factors,
    /// block by block as the image tokens were built: C = image; per block b, C = r_b ⊙ (C + (q·R_b)·P_b + α_b − σ_b·μ_b) + ε_b,
    /// then + pe (<see cref="MaskDecoderKeyProduct"/>'s sum in nested form, so no scaled copy of the probabilities is made).
    /// <paramref name="scores"/> may be <paramref name="image"/>.
    /// </summary>
    public static void CombineScores(ReadOnlySpan<float> image, ReadOnlySpan<float> pe, FactoredImageProjection proj, DecoderKeyFactors f,
        ReadOnlySpan<float> q, int ldq, int nq, Span<float> scores)
    {
        int nk = f.Tokens, cols = f.Cols, d = proj.Product.Layers, k = proj.Product.Depth(cols), n = proj.Width, heads = proj.Heads, hd = n / heads, rows = heads * nq;
        Span<float> rhs = DecoderScratch.Get(DecoderScratch.FactorRhs, k * n);
        proj.Product.PrepareRhs(f, rhs);
        Span<float> wf = DecoderScratch.Get(DecoderScratch.FactorSmall, rows * k);
        Gemm.MatMulBatched(heads, nq, k, hd, q, ldq, hd, false, rhs, n, hd, true, wf, heads * k, k);
        // With a separate output, the first block's product is written (not accumulated) and its Horner pass adds the
        // image part: the same sum, without a pass copying the image part first.
        bool inPlace = Unsafe.AreSame(ref MemoryMarshal.GetReference(image), ref MemoryMarshal.GetReference(scores));
        for (int b = 0; b < d; b++)
        {
            if (Vector512.IsHardwareAccelerated)
            {
                FactoredBlockKernels.CombineBlock(wf[(b * cols)..], k, wf[(d * cols + 3 * b)..], k, f.Probs(b), cols, b == 0 ? image : scores, f.Rstd(b), f.Mean(b),
                    b == d - 1 ? pe : default, scores, rows, nk, KernelParallel.MaxThreads);
                continue;
            }
            bool addImage = b == 0 && !inPlace;
            Gemm.MatMulCore(Gemm.Isa, KernelParallel.MaxThreads, rows, nk, cols, wf[(b * cols)..], k, false, f.Probs(b), nk, false, scores, nk, 1f, !addImage, default, default);
            ReadOnlySpan<float> r = f.Rstd(b), mu = f.Mean(b);
            for (int row = 0; row < rows; row++)
            {
                int c = row * k + d * cols + 3 * b;
                Horner(scores.Slice(row * nk, nk), addImage ? image.Slice(row * nk, nk) : default, r, mu, wf[c], wf[c + 1], wf[c + 2],
                    b == d - 1 ? pe.Slice(row * nk, nk) : default);
            }
        }
    }

    /// <summary>
    /// The factored values' left operand z [rows, k] for probabilities <paramref name="probs"/> [rows, tokens] (which end scaled
    /// by G_0, ready for the image part): per block b, with P scaled by G_{b+1} then G_b, the columns (P⊙G_b)·P_bᵀ and the
    /// coefficients rowsum(P⊙G_b), −(P⊙G_b)·μ_b, rowsum(P⊙G_{b+1}) of <see cref="MaskDecoderKeyProduct"/>'s constant rows.
    /// </summary>
    /// <remarks>With <paramref name="lastSums"/> ([rows, 3]: before, after, dot) the last block's scaling already ran (<see cref="SoftmaxScaleAndSum"/>).</remarks>
    public static void ValuesLhs(Span<float> probs, int rows, MaskDecoderKeyProduct product, DecoderKeyFactors f, Span<float> z, ReadOnlySpan<float> lastSums = default)
    {
        int nk = f.Tokens, cols = f.Cols, d = product.Layers, k = product.Depth(cols);
        for (int b = d - 1; b >= 0; b--)
        {
            ReadOnlySpan<float> r = f.Rstd(b), mu = f.Mean(b);
            for (int row = 0; row < rows; row++)
            {
                var (before, after, dot) = b == d - 1 && !lastSums.IsEmpty ? (lastSums[3 * row], lastSums[3 * row + 1], lastSums[3 * row + 2])
                    : ScaleAndSum(probs.Slice(row * nk, nk), r, mu);
                int c = row * k + d * cols + 3 * b;
                (z[c], z[c + 1], z[c + 2]) = (after, -dot, before);
            }
            if (Vector512.IsHardwareAccelerated)
                FactoredBlockKernels.RowDots(probs, rows, f.Probs(b), cols, nk, z[(b * cols)..], k, KernelParallel.MaxThreads);
            else
                Gemm.MatMulCore(Gemm.Isa, KernelParallel.MaxThreads, rows, cols, nk, probs, nk, false, f.Probs(b), nk, true, z[(b * cols)..], k, 1f, false, default, default);
        }
    }

    /// <summary>c = r ⊙ ((c (+ add)) + alpha − sigma·mu) + eps (+ pe).</summary>
    private static unsafe void Horner(Span<float> c, ReadOnlySpan<float> add, ReadOnlySpan<float> r, ReadOnlySpan<float> mu, float alpha, float sigma, float eps,
        ReadOnlySpan<float> pe)
    {
        int n = c.Length, j = 0;
        fixed (float* pc = c, pa = add, pr = r, pm = mu, pp = pe)
        {
            if (Vector512.IsHardwareAccelerated)
            {
                Vector512<float> va = Vector512.Create(alpha), vs = Vector512.Create(sigma), ve = Vector512.Create(eps);
                if (add.IsEmpty && pe.IsEmpty)
                    for (; j <= n - 16; j += 16)
                        (Vector512.Load(pr + j) * (Vector512.Load(pc + j) + va - vs * Vector512.Load(pm + j)) + ve).Store(pc + j);
                else if (add.IsEmpty)
                    for (; j <= n - 16; j += 16)
                        (Vector512.Load(pr + j) * (Vector512.Load(pc + j) + va - vs * Vector512.Load(pm + j)) + ve + Vector512.Load(pp + j)).Store(pc + j);
                else if (pe.IsEmpty)
                    for (; j <= n - 16; j += 16)
                        (Vector512.Load(pr + j) * (Vector512.Load(pc + j) + Vector512.Load(pa + j) + va - vs * Vector512.Load(pm + j)) + ve).Store(pc + j);
                else
                    for (; j <= n - 16; j += 16)
                        (Vector512.Load(pr + j) * (Vector512.Load(pc + j) + Vector512.Load(pa + j) + va - vs * Vector512.Load(pm + j)) + ve + Vector512.Load(pp + j)).Store(pc + j);
            }
            for (; j < n; j++) pc[j] = pr[j] * (pc[j] + (add.IsEmpty ? 0f : pa[j]) + alpha - sigma * pm[j]) + eps + (pe.IsEmpty ? 0f : pp[j]);
        }
    }

    /// <summary>Sum of p, then p ⊙= r, then the sum of p and its dot product with mu.</summary>
    private static unsafe (float Before, float After, float Dot) ScaleAndSum(Span<float> p, ReadOnlySpan<float> r, ReadOnlySpan<float> mu)
    {
        int n = p.Length, j = 0;
        float before = 0, after = 0, dot = 0;
        fixed (float* pp = p, pr = r, pm = mu)
        {
            if (Vector512.IsHardwareAccelerated)
            {
                Vector512<float> sb = default, sa = default, sd = default;
                for (; j <= n - 16; j += 16)
                {
                    var v = Vector512.Load(pp + j);
                    sb += v;
                    v *= Vector512.Load(pr + j);
                    v.Store(pp + j);
                    sa += v;
                    sd = Vector512.FusedMultiplyAdd(v, Vector512.Load(pm + j), sd);
                }
                (before, after, dot) = (Vector512.Sum(sb), Vector512.Sum(sa), Vector512.Sum(sd));
            }
            for (; j < n; j++)
            {
                before += pp[j];
                pp[j] *= pr[j];
                after += pp[j];
                dot += pp[j] * pm[j];
            }
        }
        return (before, after, dot);
    }

    /// <summary>
    /// Softmax of p·<paramref name="scale"/> in place (as the scores scaled then <see cref="Normalization.Softmax"/>), then as
    /// <see cref="ScaleAndSum"/> in the same normalising pass: returns the probabilities' sum, and after p ⊙= r, its sum and dot with mu.
    /// Needs Vector512.
    /// </summary>
    internal static unsafe (float Before, float After, float Dot) SoftmaxScaleAndSum(Span<float> p, float scale, ReadOnlySpan<float> r, ReadOnlySpan<float> mu)
    {
        int n = p.Length, j;
        if (r.Length < n || mu.Length < n) throw new ArgumentException("Row statistics too short.");
        fixed (float* pp = p, pr = r, pm = mu)
        {
            var vs = Vector512.Create(scale);
            var vmax = Vector512.Create(float.NegativeInfinity);
            for (j = 0; j <= n - 16; j += 16) vmax = Vector512.Max(vmax, Vector512.Load(pp + j) * vs);
            float max = float.NegativeInfinity;
            for (int l = 0; l < 16; l++) max = MathF.Max(max, vmax[l]);
            for (; j < n; j++) max = MathF.Max(max, pp[j] * scale);
            if (float.IsNegativeInfinity(max)) max = 0f;   // all -inf: 0/0 = NaN below, as PyTorch gives
            var vm = Vector512.Create(max);
            var acc = Vector512<float>.Zero;
            for (j = 0; j <= n - 16; j += 16)
            {
                var e = VectorMath.Exp(Vector512.Load(pp + j) * vs - vm);
                e.Store(pp + j);
                acc += e;
            }
            float sum = Vector512.Sum(acc);
            for (; j < n; j++) { float e = VectorMath.Exp(pp[j] * scale - max); pp[j] = e; sum += e; }
            float inv = 1f / sum;
            var vi = Vector512.Create(inv);
            Vector512<float> sb = default, sa = default, sd = default;
            for (j = 0; j <= n - 16; j += 16)
            {
                var v = Vector512.Load(pp + j) * vi;
                sb += v;
                v *= Vector512.Load(pr + j);
                v.Store(pp + j);
                sa += v;
                sd = Vector512.FusedMultiplyAdd(v, Vector512.Load(pm + j), sd);
            }
            float before = Vector512.Sum(sb), after = Vector512.Sum(sa), dot = Vector512.Sum(sd);
            for (; j < n; j++)
            {
                float v = pp[j] * inv;
                before += v;
                v *= pr[j];
                pp[j] = v;
                after += v;
                dot += v * pm[j];
            }
            return (before, after, dot);
        }
    }

    /// <summary>
    /// Token→image attention of a chunk of prompts (<paramref name="qp"/> [prompts·nq, width]) over factored image tokens; only each
    /// prompt's first <paramref name="kept"/> tokens attend (the other rows of <paramref name="merged"/> are left as they are).
    /// </summary>
    public static void Attend(DecoderAttention attn, float[] qp, FactoredImageProjection keys, FactoredImageProjection values, DecoderKeyFactors[] factors,
        float[] merged, int prompts, int nq, int kept, int stage)
    {
        int id = attn.InternalDim, heads = attn.Heads, hd = id / heads, cols = heads * nq, nk = factors[0].Tokens, threads = KernelParallel.MaxThreads;
        int k = keys.Product.Depth(factors[0].Cols), kv = values.Product.Depth(factors[0].Cols);
        float[] s = TokenArena.Rent(prompts * cols * nk);
        float[] z = TokenArena.Rent(prompts * cols * kv), rhsV = TokenArena.Rent(prompts * kv * id);
        KernelParallel.ForEachSerial(prompts, p =>
        {
            long tp = DecoderProfile.Start();
            var f = factors[p];
            int rows = heads * kept, o = p * cols * nk;
            Span<float> sp = s.AsSpan(o, cols * nk);
            // The positional part per prompt and for the attending tokens only: a cache-resident buffer, not a chunk-wide one
            // written out to memory and read back.
            Span<float> pe = DecoderScratch.Get(DecoderScratch.PeScores, rows * nk);
            HeadProducts(qp.AsSpan(p * nq * id), id, kept, keys.Image, sp, nk);
            HeadProducts(qp.AsSpan(p * nq * id), id, kept, keys.Pe!, pe, nk);
            CombineScores(sp, pe, keys, f, qp.AsSpan(p * nq * id), id, kept, sp);
            tp = DecoderProfile.Lap(stage == DecoderProfile.Final ? stage : DecoderProfile.T2iScores, tp);
            if (values.Product.Depth(f.Cols) != kv) throw new InvalidOperationException("Factored values do not match.");
            Span<float> sums = default;
            if (Vector512.IsHardwareAccelerated)
            {
                // The softmax's normalising pass also runs the values' last-block scaling and sums (one pass fewer, no scaling pass).
                float[] sumsArray = DecoderScratch.GetArray(DecoderScratch.SoftmaxSums, 3 * rows);
                sums = sumsArray.AsSpan(0, 3 * rows);
                int last = values.Product.Layers - 1;
                // A lone prompt (interactive decode) has both threads: its rows are split between them.
                int split = Math.Min(KernelParallel.MaxThreads, rows / 8);
                if (split <= 1) SoftmaxRows(s, o, 0, rows, nk, 1f / MathF.Sqrt(hd), f, last, sumsArray);
                else
                    KernelParallel.For(split, split, t =>
                        SoftmaxRows(s, o, rows * t / split, rows * (t + 1) / split, nk, 1f / MathF.Sqrt(hd), f, last, sumsArray));
            }
            else
            {
                Elementwise.Scale(sp[..(rows * nk)], 1f / MathF.Sqrt(hd));
                Normalization.Softmax(sp, rows, nk);
            }
            tp = DecoderProfile.Lap(stage == DecoderProfile.Final ? stage : DecoderProfile.T2iSoftmax, tp);
            ValuesLhs(sp, rows, values.Product, f, z.AsSpan(p * cols * kv, rows * kv), sums);
            // Tokens that do not attend contribute nothing to the chunk's image product.
            sp[(rows * nk)..].Clear();
            values.Product.PrepareRhs(f, rhsV.AsSpan(p * kv * id, kv * id));
            DecoderProfile.Lap(stage == DecoderProfile.Final ? stage : DecoderProfile.T2iPv, tp);
        });
        long t = DecoderProfile.Start();
        HeadProducts(s, heads * nk, prompts * nq, values.Image, merged, id, nk);
        t = DecoderProfile.Lap(stage == DecoderProfile.Final ? stage : DecoderProfile.T2iPv, t, threads);
        KernelParallel.ForEachSerial(prompts, p =>
            Gemm.MatMulBatched(heads, kept, hd, kv, z.AsSpan(p * cols * kv), heads * kv, kv, false, rhsV.AsSpan(p * kv * id), id, hd, false,
                merged.AsSpan(p * nq * id), id, hd, 1f, accumulate: true));
        DecoderProfile.Lap(stage == DecoderProfile.Final ? stage : DecoderProfile.T2iPv, t);
    }

    private static void SoftmaxRows(float[] s, int offset, int lo, int hi, int nk, float scale, DecoderKeyFactors f, int last, float[] sums)
    {
        for (int row = lo; row < hi; row++)
            (sums[3 * row], sums[3 * row + 1], sums[3 * row + 2]) = SoftmaxScaleAndSum(s.AsSpan(offset + row * nk, nk), scale, f.Rstd(last), f.Mean(last));
    }

    /// <summary>The first block's token→image attention of a chunk of prompts against the shared projected image tokens.</summary>
    public static void AttendFirst(DecoderAttention attn, float[] qp, PackedMatrix[] keysT, PackedMatrix[] values, float[] merged, int prompts, int nq, int nk)
    {
        int id = attn.InternalDim, heads = attn.Heads, hd = id / heads, cols = heads * nq, threads = KernelParallel.MaxThreads;
        float[] s = TokenArena.Rent(prompts * cols * nk);
        long t = DecoderProfile.Start();
        HeadProducts(qp, id, prompts * nq, keysT, s, nk);
        DecoderProfile.Lap(DecoderProfile.T2iScores, t, threads);
        KernelParallel.ForEachSerial(prompts, p =>
        {
            long tp = DecoderProfile.Start();
            Span<float> sp = s.AsSpan(p * cols * nk, cols * nk);
            Elementwise.Scale(sp, 1f / MathF.Sqrt(hd));
            Normalization.Softmax(sp, cols, nk);
            DecoderProfile.Lap(DecoderProfile.T2iSoftmax, tp);
        });
        t = DecoderProfile.Start();
        HeadProducts(s, heads * nk, prompts * nq, values, merged, id, nk);
        DecoderProfile.Lap(DecoderProfile.T2iPv, t, threads);
    }

    /// <summary>Per head h: out[row, h's columns] = a[(row, h), tokens] · values[h] (a: [rows][heads][tokens] with row stride <paramref name="lda"/>).</summary>
    private static void HeadProducts(ReadOnlySpan<float> a, int lda, int rows, PackedMatrix[] values, Span<float> output, int ldo, int nk)
    {
        int hd = values[0].N;
        for (int h = 0; h < values.Length; h++)
            Gemm.MatMul(rows, a[(h * nk)..], lda, false, values[h], output[(h * hd)..], ldo);
    }

    /// <summary>dst[r] = a[r] ⊙ g + b[r] for rows of <paramref name="n"/> (dst may be a).</summary>
    private static void MultiplyAdd(ReadOnlySpan<float> a, ReadOnlySpan<float> g, ReadOnlySpan<float> b, Span<float> dst, int rows, int n)
    {
        for (int r = 0; r < rows; r++)
        {
            int o = r * n;
            var d = dst.Slice(o, n);
            a.Slice(o, n).CopyTo(d);
            Elementwise.Multiply(d, g);
            Elementwise.Add(d, b.Slice(o, n));
        }
    }
}
