using SegmentAnything.Kernels;
using SegmentAnything.Tests.Api;

namespace SegmentAnything.Tests.Kernels;

/// <summary>
/// Small products and softmaxes run on one thread many times per call (TinyViT's window heads on CPUs without
/// the fused AVX-512 kernel): after warm-up they allocate nothing, and reusing the thread's driver changes no result.
/// </summary>
[Collection(nameof(AllocationMeasurements))]
public class SerialKernelAllocationTests
{
    [Fact]
    public void Serial_products_and_softmax_allocate_nothing_after_warm_up()
    {
        var a = new float[49 * 160];
        var c = new float[49 * 49];
        for (int i = 0; i < a.Length; i++) a[i] = MathF.Sin(i);
        for (int i = 0; i < 3; i++)
        {
            Gemm.MatMulSerial(49, 49, 32, a, 160, false, a, 160, true, c, 49, 0.5f);
            Normalization.Softmax(c, 49, 49);
        }
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 50; i++)
        {
            Gemm.MatMulSerial(49, 49, 32, a, 160, false, a, 160, true, c, 49, 0.5f);
            Normalization.Softmax(c, 49, 49);
        }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public void A_reused_serial_driver_gives_the_same_products_as_fresh_ones()
    {
        var rng = new Random(3);
        (int M, int N, int K, bool At, bool Bt, bool Acc)[] cases =
            [(7, 5, 3, false, false, false), (13, 33, 17, true, false, true), (49, 49, 16, false, true, false), (1, 1, 1, false, false, true), (25, 40, 64, true, true, false)];
        foreach (var (m, n, k, at, bt, acc) in cases)
        {
            var a = new float[m * k];
            var b = new float[k * n];
            var c0 = new float[m * n];
            for (int i = 0; i < a.Length; i++) a[i] = (float)(rng.NextDouble() - 0.5);
            for (int i = 0; i < b.Length; i++) b[i] = (float)(rng.NextDouble() - 0.5);
            for (int i = 0; i < c0.Length; i++) c0[i] = (float)rng.NextDouble();
            var serial = (float[])c0.Clone();
            Gemm.MatMulSerial(m, n, k, a, at ? m : k, at, b, bt ? k : n, bt, serial, n, 0.75f, acc);
            var reference = (float[])c0.Clone();
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++)
                {
                    double s = 0;
                    for (int p = 0; p < k; p++) s += (double)(at ? a[p * m + i] : a[i * k + p]) * (bt ? b[j * k + p] : b[p * n + j]);
                    reference[i * n + j] = (float)((acc ? reference[i * n + j] : 0) + 0.75 * s);
                }
            for (int i = 0; i < serial.Length; i++) Assert.Equal(reference[i], serial[i], 1e-4f);
        }
    }
}
