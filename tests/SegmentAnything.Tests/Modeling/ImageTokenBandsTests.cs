using SegmentAnything.Kernels;
using SegmentAnything.Modeling;
using SegmentAnything.Tests.Support;

namespace SegmentAnything.Tests.Modeling;

public unsafe class ImageTokenBandsTests
{
    private static float[] Random(int n, int seed)
    {
        var r = new Random(seed);
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)(r.NextDouble() * 2 - 1);
        return a;
    }

    private static float[] Storage(PackedMatrix m)
    {
        int nr = GemmIsaInfo.Nr(m.Isa);
        long n = (long)(m.N + nr - 1) / nr * nr * m.K;
        return new ReadOnlySpan<float>(m.Pointer, (int)n).ToArray();
    }

    // 600 tokens: a ragged last band and KC blocks of 200 that bands straddle.
    [Theory]
    [InlineData(600, 256)]
    [InlineData(64, 40)]
    public void BandsMatchTheUnfusedPassAndThePackedOperands(int nk, int dim)
    {
        int cols = 24;
        float[] probsT = Random(cols * nk, 1), values = Random(cols * dim, 2), bias = Random(dim, 3);
        float[] residual = Random(nk * dim, 4), pos = Random(nk * dim, 5), w = Random(dim, 6), b = Random(dim, 7);
        var norm = new LayerNormParams(w, b, 1e-6f);

        var x = new float[nk * dim];
        Gemm.MatMulCore(Gemm.Isa, 1, nk, dim, cols, probsT, nk, true, values, dim, false, x, dim, 1f, false, default, bias);
        var keysRef = new float[nk * dim];
        var kpeRef = new float[nk * dim];
        ResidualLayerNorm.Apply(x, residual, pos, keysRef, kpeRef, nk, dim, w, b, 1e-6f);

        var keys = residual.ToArray();
        var kpeT = PackedMatrix.Allocate(Gemm.Isa, dim, nk);
        var keysB = PackedMatrix.Allocate(Gemm.Isa, nk, dim);
        var packedValues = Gemm.PackB(values, cols, dim, dim, bTransposed: false);
        ImageTokenBands.Finish(probsT, packedValues, bias, keys, pos, keys, kpeT, keysB, nk, dim, norm, default, default);

        Assert.True(Parity.RelativeL2(keysRef, keys) < 1e-6);
        Assert.Equal(Storage(Gemm.PackB(keys, nk, dim, dim, bTransposed: false)), Storage(keysB));
        var kpe = new float[nk * dim];
        for (int i = 0; i < kpe.Length; i++) kpe[i] = keys[i] + pos[i];
        Assert.Equal(Storage(Gemm.PackB(kpe, dim, nk, dim, bTransposed: true)), Storage(kpeT));

        // The variant given the attention output: the same keys as the unfused pass, bit for bit.
        var keys2 = residual.ToArray();
        ImageTokenBands.Finish(x, keys2, pos, keys2, kpeT, keysB, nk, dim, norm, default, default);
        Assert.Equal(keysRef, keys2);
    }
}
