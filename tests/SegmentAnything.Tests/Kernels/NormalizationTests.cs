using SegmentAnything.Kernels;
using static SegmentAnything.Tests.Kernels.KernelReference;

namespace SegmentAnything.Tests.Kernels;

public class NormalizationTests
{
    [Theory]
    [InlineData(1, 1)]
    [InlineData(3, 7)]
    [InlineData(17, 256)]
    [InlineData(130, 97)]
    [InlineData(1000, 768)]
    public void LayerNormMatchesDoubleReference(int rows, int dim)
    {
        var rnd = new Random(rows * 31 + dim);
        var x = Random(rnd, rows * dim, 3f);
        for (int i = 0; i < x.Length; i++) x[i] += 5f; // offset mean: two-pass variance must not cancel
        var w = Random(rnd, dim);
        var b = Random(rnd, dim);
        var y = (float[])x.Clone();
        Normalization.LayerNorm(y, rows, dim, w, b, 1e-6f);
        var expected = new double[x.Length];
        var mag = new double[x.Length];
        for (int r = 0; r < rows; r++)
        {
            double mean = 0, var = 0;
            for (int i = 0; i < dim; i++) mean += x[r * dim + i];
            mean /= dim;
            for (int i = 0; i < dim; i++) var += Math.Pow(x[r * dim + i] - mean, 2);
            var /= dim;
            for (int i = 0; i < dim; i++)
            {
                double n = (x[r * dim + i] - mean) / Math.Sqrt(var + 1e-6);
                expected[r * dim + i] = n * w[i] + b[i];
                // float rounding of x and of the mean cancels in x − mean: scale by |x|/σ, not |x − mean|/σ.
                mag[r * dim + i] = Math.Abs(w[i]) * (Math.Abs(x[r * dim + i]) + Math.Abs(mean)) / Math.Sqrt(var + 1e-6) + Math.Abs(b[i]) + 1e-3;
            }
        }
        AssertClose(y, expected, mag, 1e-5, $"layernorm {rows}x{dim}");
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(3, 13)]
    [InlineData(32, 300)]
    [InlineData(256, 4099)]
    public void LayerNorm2dMatchesDoubleReference(int channels, int pixels)
    {
        var rnd = new Random(channels + pixels);
        var x = Random(rnd, channels * pixels, 2f);
        for (int i = 0; i < x.Length; i++) x[i] -= 3f;
        var w = Random(rnd, channels);
        var b = Random(rnd, channels);
        var y = (float[])x.Clone();
        Normalization.LayerNorm2d(y, channels, pixels, w, b, 1e-6f);
        var expected = new double[x.Length];
        var mag = new double[x.Length];
        for (int p = 0; p < pixels; p++)
        {
            double mean = 0, var = 0;
            for (int c = 0; c < channels; c++) mean += x[c * pixels + p];
            mean /= channels;
            for (int c = 0; c < channels; c++) var += Math.Pow(x[c * pixels + p] - mean, 2);
            var /= channels;
            for (int c = 0; c < channels; c++)
            {
                double n = (x[c * pixels + p] - mean) / Math.Sqrt(var + 1e-6);
                expected[c * pixels + p] = n * w[c] + b[c];
                mag[c * pixels + p] = Math.Abs(w[c]) * (Math.Abs(x[c * pixels + p]) + Math.Abs(mean)) / Math.Sqrt(var + 1e-6) + Math.Abs(b[c]) + 1e-3;
            }
        }
        AssertClose(y, expected, mag, 1e-5, $"layernorm2d {channels}x{pixels}");
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(5, 9)]
    [InlineData(64, 196)]
    [InlineData(300, 4096)]
    public void SoftmaxMatchesDoubleReference(int rows, int cols)
    {
        var rnd = new Random(rows + cols);
        var x = Random(rnd, rows * cols, 20f);
        var y = (float[])x.Clone();
        Normalization.Softmax(y, rows, cols);
        var expected = new double[x.Length];
        var mag = new double[x.Length];
        for (int r = 0; r < rows; r++)
        {
            double max = double.NegativeInfinity, sum = 0;
            for (int i = 0; i < cols; i++) max = Math.Max(max, x[r * cols + i]);
            for (int i = 0; i < cols; i++) sum += Math.Exp(x[r * cols + i] - max);
            for (int i = 0; i < cols; i++)
            {
                expected[r * cols + i] = Math.Exp(x[r * cols + i] - max) / sum;
                // Rounding x − max in float costs up to ½ ulp(|x − max|) relative in exp.
                mag[r * cols + i] = expected[r * cols + i] * (1 + Math.Abs(x[r * cols + i] - max)) + 1e-38;
            }
        }
        AssertClose(y, expected, mag, 2e-6, $"softmax {rows}x{cols}");
    }

    [Fact]
    public void ElementwiseAndBatchNormFolding()
    {
        var rnd = new Random(8);
        var a = Random(rnd, 37);
        var b = Random(rnd, 37);
        var sum = (float[])a.Clone();
        Elementwise.Add(sum, b);
        var prod = (float[])a.Clone();
        Elementwise.Multiply(prod, b);
        for (int i = 0; i < a.Length; i++)
        {
            Assert.Equal(a[i] + b[i], sum[i]);
            Assert.Equal(a[i] * b[i], prod[i]);
        }

        // Folded conv + BN equals conv followed by eval-mode BN.
        int cin = 3, cout = 4, h = 6, w = 5;
        var wt = Random(rnd, cout * cin * 9);
        var bias = Random(rnd, cout);
        var gamma = Random(rnd, cout);
        var beta = Random(rnd, cout);
        var mean = Random(rnd, cout);
        var varr = Random(rnd, cout).Select(v => Math.Abs(v) + 0.1f).ToArray();
        var x = Random(rnd, cin * h * w);
        var plain = new Conv2d(wt, bias, cin, cout, 3, 3, 1, 1).Forward(x, h, w);
        var (fw, fb) = BatchNormFolding.Fold(wt, bias, cout, gamma, beta, mean, varr, 1e-5);
        var folded = new Conv2d(fw, fb, cin, cout, 3, 3, 1, 1).Forward(x, h, w);
        var expected = new double[plain.Length];
        for (int o = 0; o < cout; o++)
            for (int p = 0; p < h * w; p++)
                expected[o * h * w + p] = (plain[o * h * w + p] - mean[o]) / Math.Sqrt(varr[o] + 1e-5) * gamma[o] + beta[o];
        AssertClose(folded, expected, expected.Select(v => Math.Abs(v) + 1.0).ToArray(), 1e-5, "folded BN");
    }
}
