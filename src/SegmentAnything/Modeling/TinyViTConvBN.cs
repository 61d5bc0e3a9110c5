using SegmentAnything.Checkpoints;
using SegmentAnything.Kernels;

namespace SegmentAnything.Modeling;

/// <summary>
/// TinyViT's <c>Conv2d_BN</c> (a bias-free convolution followed by BatchNorm2d), evaluated in eval
/// mode: the BatchNorm is folded into the convolution's weight and bias at load time. Works on
/// planar [C, H·W] maps; picks a matrix product for 1x1, the depthwise kernel for groups = channels,
/// and the general convolution kernel otherwise.
/// </summary>
internal sealed class TinyViTConvBN
{
    public const float BatchNormEps = 1e-5f;

    public int InChannels { get; }
    public int OutChannels { get; }
    public int Kernel { get; }
    public int Stride { get; }
    public int Padding { get; }
    public int Groups { get; }
    private readonly Conv2d _conv;

    public TinyViTConvBN(float[] weight, float[] bias, int inChannels, int outChannels, int kernel, int stride, int padding, int groups)
    {
        if (inChannels % groups != 0 || outChannels % groups != 0) throw new ArgumentException("Channels not divisible by groups.");
        (InChannels, OutChannels, Kernel, Stride, Padding, Groups) = (inChannels, outChannels, kernel, stride, padding, groups);
        // Conv2d picks the pointwise GEMM, depthwise or im2col path itself.
        _conv = new Conv2d(weight, bias, inChannels, outChannels, kernel, kernel, stride, padding, groups);
    }

    /// <summary>Binds <c>{name}.c.weight</c> and <c>{name}.bn.*</c> and folds the BatchNorm.</summary>
    public static TinyViTConvBN Load(WeightBinder w, string name, int inChannels, int outChannels, int kernel,
        int stride, int padding, int groups)
    {
        if (groups <= 0 || inChannels % groups != 0 || outChannels % groups != 0)
            throw new CheckpointException($"{name}: {inChannels} -> {outChannels} channels do not divide into {groups} groups.");
        float[] conv = w.Take(name + ".c.weight", outChannels, inChannels / groups, kernel, kernel);
        float[] gamma = w.Take(name + ".bn.weight", outChannels);
        float[] beta = w.Take(name + ".bn.bias", outChannels);
        float[] mean = w.Take(name + ".bn.running_mean", outChannels);
        float[] var = w.Take(name + ".bn.running_var", outChannels);
        w.TakeOptional(name + ".bn.num_batches_tracked");
        var (weight, bias) = BatchNormFolding.Fold(conv, null, outChannels, gamma, beta, mean, var, BatchNormEps);
        return new TinyViTConvBN(weight, bias, inChannels, outChannels, kernel, stride, padding, groups);
    }

    public (int H, int W) OutputSize(int h, int w) =>
        ((h + 2 * Padding - Kernel) / Stride + 1, (w + 2 * Padding - Kernel) / Stride + 1);

    /// <summary>Planar [Cin, h·w] in, planar [Cout, oh·ow] out.</summary>
    public float[] Forward(float[] input, int h, int w)
    {
        if (input.Length != InChannels * h * w) throw new ArgumentException("Conv2d_BN input has the wrong size.");
        return _conv.Forward(input, h, w);
    }
}
