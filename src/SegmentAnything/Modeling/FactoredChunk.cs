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
    /// per-image parts (<paramref name="image"/>, <paramref name="pe"/>, this prompt's slices) and the prompt's
    /// factored terms (its left operand prepared): G_0 ⊙ image + pe + (q·Rᵀ)·L. <paramref name="scores"/> may be <paramref name="image"/>.
    /// </summary>
    public static void CombineScores(ReadOnlySpan<float> image, ReadOnlySpan<float> pe, FactoredImageProjection proj, DecoderKeyFactors f,
        ReadOnlySpan<float> q, int ldq, int nq, Span<float> scores)
    {
        int nk = f.Tokens, k = proj.Product.Depth(f.Cols), n = proj.Width, heads = proj.Heads, hd = n / heads, rows = heads * nq;
        Span<float> rhs = DecoderScratch.Get(DecoderScratch.FactorRhs, k * n);
        proj.Product.PrepareRhs(f, rhs);
        Span<float> wf = DecoderScratch.Get(DecoderScratch.FactorSmall, rows * k);
        Gemm.MatMulBatched(heads, nq, k, hd, q, ldq, hd, false, rhs, n, hd, true, wf, heads * k, k);
        MultiplyAdd(image[..(rows * nk)], f.G0Buffer(), pe, scores, rows, nk);
        Gemm.MatMulCore(Gemm.Isa, KernelParallel.MaxThreads, rows, nk, k, wf, k, false, f.LhsBuffer(k * nk), nk, false, scores, nk, 1f, true, default, default);
    }

    /// <summary>
    /// Token→image attention of a chunk of prompts (<paramref name="qp"/> [prompts·nq, width]) over factored image tokens; only each
    /// prompt's first <paramref name="kept"/> tokens attend (the other rows of <paramref name="merged"/> are left as they are).
    /// Prepares each prompt's left operand for <paramref name="keys"/>' blocks (the same block's image→token attention reuses it).
    /// </summary>
    public static void Attend(DecoderAttention attn, float[] qp, FactoredImageProjection keys, FactoredImageProjection values, DecoderKeyFactors[] factors,
        float[] merged, int prompts, int nq, int kept, int stage)
    {
        int id = attn.InternalDim, heads = attn.Heads, hd = id / heads, cols = heads * nq, nk = factors[0].Tokens, threads = KernelParallel.MaxThreads;
        int k = keys.Product.Depth(factors[0].Cols), kv = values.Product.Depth(factors[0].Cols);
        float[] s = TokenArena.Rent(prompts * cols * nk), s2 = TokenArena.Rent(prompts * cols * nk);
        float[] z = TokenArena.Rent(prompts * cols * kv), rhsV = TokenArena.Rent(prompts * kv * id);
        long t = DecoderProfile.Start();
        HeadProducts(qp, id, prompts * nq, keys.Image, s, nk);
        HeadProducts(qp, id, prompts * nq, keys.Pe!, s2, nk);
        DecoderProfile.Lap(stage == DecoderProfile.Final ? stage : DecoderProfile.T2iScores, t, threads);
        KernelParallel.ForEachSerial(prompts, p =>
        {
            long tp = DecoderProfile.Start();
            var f = factors[p];
            FactoredAttention.PrepareLhs(keys, f);
            int rows = heads * kept, o = p * cols * nk;
            Span<float> sp = s.AsSpan(o, cols * nk);
            CombineScores(sp, s2.AsSpan(o, cols * nk), keys, f, qp.AsSpan(p * nq * id), id, kept, sp);
            tp = DecoderProfile.Lap(stage == DecoderProfile.Final ? stage : DecoderProfile.T2iScores, tp);
            Elementwise.Scale(sp[..(rows * nk)], 1f / MathF.Sqrt(hd));
            Normalization.Softmax(sp, rows, nk);
            tp = DecoderProfile.Lap(stage == DecoderProfile.Final ? stage : DecoderProfile.T2iSoftmax, tp);
            if (values.Product.Depth(f.Cols) != kv) throw new InvalidOperationException("Factored values do not match.");
            Span<float> zp = z.AsSpan(p * cols * kv, rows * kv);
            Gemm.MatMulCore(Gemm.Isa, KernelParallel.MaxThreads, rows, kv, nk, sp, nk, false, f.LhsBuffer(kv * nk), nk, true, zp, kv, 1f, false, default, default);
            ReadOnlySpan<float> g0 = f.G0Buffer();
            for (int r = 0; r < rows; r++) Elementwise.Multiply(sp.Slice(r * nk, nk), g0);
            // Tokens that do not attend contribute nothing to the chunk's image product.
            sp[(rows * nk)..].Clear();
            values.Product.PrepareRhs(f, rhsV.AsSpan(p * kv * id, kv * id));
            DecoderProfile.Lap(stage == DecoderProfile.Final ? stage : DecoderProfile.T2iPv, tp);
        });
        t = DecoderProfile.Start();
        HeadProducts(s, heads * nk, prompts * nq, values.Image, merged, id, nk);
        t = DecoderProfile.Lap(stage == DecoderProfile.Final ? stage : DecoderProfile.T2iPv, t, threads);
        KernelParallel.ForEachSerial(prompts, p =>
            Gemm.MatMulBatched(heads, kept, hd, kv, z.AsSpan(p * cols * kv), heads * kv, kv, false, rhsV.AsSpan(p * kv * id), id, hd, false,
                merged.AsSpan(p * nq * id), id, hd, 1f, accumulate: true));
        DecoderProfile.Lap(stage == DecoderProfile.Final ? stage : DecoderProfile.T2iPv, t);
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
