using System.Runtime.Intrinsics;
using SegmentAnything.Kernels;

namespace SegmentAnything.Tests.Kernels;

public unsafe class WindowAttentionTests
{
    [SkippableTheory]
    [InlineData(1, 32, 32)]
    [InlineData(3, 16, 16)]
    [InlineData(17, 5, 48)]
    [InlineData(49, 32, 32)]
    [InlineData(50, 8, 16)]
    [InlineData(70, 32, 32)]
    [InlineData(196, 32, 32)]
    public void MatchesDoubleReference(int n, int kd, int vd)
    {
        Skip.IfNot(WindowAttention.IsSupported(vd), "needs AVX-512");
        var rnd = new Random(n * 1000 + kd * 10 + vd);
        int extra = 3, rowStride = 2 * kd + vd + extra, ctxStride = vd + 5, np = WindowAttention.PaddedTokens(n);
        float[] qkv = Enumerable.Range(0, n * rowStride).Select(_ => (float)(rnd.NextDouble() * 4 - 2)).ToArray();
        float[] bias = new float[n * np];
        Array.Fill(bias, float.NegativeInfinity);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) bias[i * np + j] = (float)(rnd.NextDouble() * 6 - 3);
        float[] context = Enumerable.Repeat(123f, n * ctxStride).ToArray();
        float[] scratch = new float[WindowAttention.ScratchSize(n, kd)];
        Array.Fill(scratch, float.NaN); // the kernel must not read scratch it did not write
        float scale = 1f / MathF.Sqrt(kd);
        fixed (float* pq = qkv) fixed (float* pb = bias) fixed (float* pc = context) fixed (float* ps = scratch)
            WindowAttention.Head(pq, pq + kd, pq + 2 * kd, rowStride, n, kd, vd, scale, pb, pc, ctxStride, ps);

        double maxErr = 0, maxRef = 0;
        for (int i = 0; i < n; i++)
        {
            var s = new double[n];
            for (int j = 0; j < n; j++)
            {
                double dot = 0;
                for (int p = 0; p < kd; p++) dot += (double)qkv[i * rowStride + p] * qkv[j * rowStride + kd + p];
                s[j] = dot * scale + bias[i * np + j];
            }
            double max = s.Max();
            double sum = s.Sum(x => Math.Exp(x - max));
            for (int d = 0; d < vd; d++)
            {
                double acc = 0;
                for (int j = 0; j < n; j++) acc += Math.Exp(s[j] - max) / sum * qkv[j * rowStride + 2 * kd + d];
                maxErr = Math.Max(maxErr, Math.Abs(acc - context[i * ctxStride + d]));
                maxRef = Math.Max(maxRef, Math.Abs(acc));
            }
            for (int d = vd; d < ctxStride; d++) Assert.Equal(123f, context[i * ctxStride + d]); // stride gap untouched
        }
        Assert.True(maxErr <= 2e-6 * Math.Max(1, maxRef), $"max error {maxErr:E2} (max |ref| {maxRef:F3})");
    }

    [Fact]
    public void RejectsUnsupportedShapes()
    {
        Assert.False(WindowAttention.IsSupported(20));
        Assert.False(WindowAttention.IsSupported(0));
        if (!Vector512.IsHardwareAccelerated) return;
        float[] buf = new float[64];
        fixed (float* p = buf)
        {
            nint ip = (nint)p;
            Assert.Throws<ArgumentException>(() => WindowAttention.Head((float*)ip, (float*)ip, (float*)ip, 1, 0, 4, 16, 1f, (float*)ip, (float*)ip, 16, (float*)ip));
        }
    }
}
