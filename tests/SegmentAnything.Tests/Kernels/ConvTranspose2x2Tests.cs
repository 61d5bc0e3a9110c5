using SegmentAnything.Kernels;
using Xunit;

namespace SegmentAnything.Tests.Kernels;

/// <summary>ConvTranspose2d(kernel 2, stride 2) against its definition, with small integers so every sum is exact.</summary>
public class ConvTranspose2x2Tests
{
    [Theory]
    [InlineData(3, 2, 1, 1)]
    [InlineData(5, 3, 4, 7)]
    [InlineData(4, 6, 3, 19)]
    [InlineData(8, 2, 2, 16)]
    public void MatchesTheDefinition(int cin, int cout, int h, int w)
    {
        var rng = new Random(cin * 100 + cout * 10 + w);
        float[] weight = Enumerable.Range(0, cin * cout * 4).Select(_ => (float)rng.Next(-4, 5)).ToArray();
        float[] bias = Enumerable.Range(0, cout).Select(_ => (float)rng.Next(-3, 4)).ToArray();
        float[] input = Enumerable.Range(0, cin * h * w).Select(_ => (float)rng.Next(-5, 6)).ToArray();
        var conv = new ConvTranspose2x2(weight, bias, cin, cout);
        float[] output = conv.Forward(input, h, w);
        Assert.Equal(cout * 4 * h * w, output.Length);
        var tokens = new float[input.Length];
        for (int i = 0; i < cin; i++)
            for (int p = 0; p < h * w; p++) tokens[p * cin + i] = input[i * h * w + p];
        Assert.Equal(output, conv.Forward(tokens, h, w, tokenMajor: true));
        for (int o = 0; o < cout; o++)
            for (int y = 0; y < 2 * h; y++)
                for (int x = 0; x < 2 * w; x++)
                {
                    float expected = bias[o];
                    for (int i = 0; i < cin; i++)
                        expected += input[(i * h + y / 2) * w + x / 2] * weight[((i * cout + o) * 2 + y % 2) * 2 + x % 2];
                    Assert.Equal(expected, output[(o * 2 * h + y) * 2 * w + x]);
                }
    }
}
