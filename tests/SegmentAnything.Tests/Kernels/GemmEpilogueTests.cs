using SegmentAnything.Kernels;
using static SegmentAnything.Tests.Kernels.KernelReference;

namespace SegmentAnything.Tests.Kernels;

/// <summary>
/// The prepacked-weight product (row-block x column-chunk work items through every KC block) with its
/// fused epilogues, on every kernel family, against double-precision references at sizes around the
/// micro-tile, MC row block, KC depth and column-chunk boundaries.
/// </summary>
public class GemmEpilogueTests
{
    public static IEnumerable<object[]> Cases()
    {
        var shapes = new[] { (1, 1, 1), (11, 5, 31), (13, 9, 33), (143, 257, 65), (145, 300, 769), (301, 513, 97), (290, 64, 800), (2305, 257, 780) };
        foreach (var isa in Enum.GetValues<GemmIsa>().Where(GemmIsaInfo.IsSupported))
            foreach (var (m, k, n) in shapes) yield return [isa, m, k, n];
    }

    private static (double[] Y, double[] Mag) Reference(int m, int k, int n, float[] x, float[] w, float[] bias)
    {
        var y = new double[m * n];
        var mag = new double[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = bias[j], a = Math.Abs(bias[j]);
                for (int p = 0; p < k; p++)
                {
                    double t = (double)x[i * k + p] * w[j * k + p];
                    s += t;
                    a += Math.Abs(t);
                }
                y[i * n + j] = s;
                mag[i * n + j] = a + 1e-6;
            }
        return (y, mag);
    }

    private static unsafe void Run(GemmIsa isa, int m, int k, int n, float[] x, float[] w, float[] bias, float[] y, GemmEpilogue ep, float[]? residual)
    {
        var packed = PackedMatrix.Create(isa, w, k, n, k, transposed: true);
        fixed (float* px = x) fixed (float* py = y) fixed (float* pb = bias) fixed (float* pr = residual)
        {
            new GemmDriver(isa, m, n, k, new MatrixRef(px, k, false), default, packed.Pointer, py, n, 1f, false, null, pb)
                .WithEpilogue(ep, pr, n).Run(KernelParallel.MaxThreads);
        }
        GC.KeepAlive(packed);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void BiasGeluAndResidualAdd(GemmIsa isa, int m, int k, int n)
    {
        var rnd = new Random(m * 7 + k * 3 + n);
        float[] x = Random(rnd, m * k), w = Random(rnd, n * k), bias = Random(rnd, n);
        var (expected, mag) = Reference(m, k, n, x, w, bias);

        var plain = new float[m * n];
        Run(isa, m, k, n, x, w, bias, plain, GemmEpilogue.None, null);
        AssertClose(plain, expected, mag, 2e-6, $"{isa} plain {m}x{k}x{n}");

        var gelu = new float[m * n];
        Run(isa, m, k, n, x, w, bias, gelu, GemmEpilogue.Gelu, null);
        var geluExpected = new double[m * n];
        var geluMag = new double[m * n];
        for (int i = 0; i < geluExpected.Length; i++)
        {
            double v = plain[i]; // GELU of the float product: the epilogue adds only its own error
            geluExpected[i] = 0.5 * v * (1 + MathExtra.Erf(v / Math.Sqrt(2)));
            geluMag[i] = Math.Abs(v) + 1e-6;
        }
        AssertClose(gelu, geluExpected, geluMag, 1e-6, $"{isa} gelu {m}x{k}x{n}");

        float[] residual = Random(rnd, m * n, 3f), before = (float[])residual.Clone();
        var y = new float[m * n];
        Run(isa, m, k, n, x, w, bias, y, GemmEpilogue.AddInto, residual);
        for (int i = 0; i < y.Length; i++)
        {
            Assert.Equal(plain[i], y[i]);
            Assert.Equal(before[i] + plain[i], residual[i]);
        }
    }
}
