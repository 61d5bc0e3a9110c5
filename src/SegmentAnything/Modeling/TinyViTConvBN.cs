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
    private readonly float[] _weight; // folded, PyTorch layout [Cout, Cin/groups, k, k]
    private readonly float[] _bias;   // folded
    private readonly TinyViTDepthwiseConv? _depthwise;
    private readonly Conv2d? _conv;

    public TinyViTConvBN(float[] weight, float[] bias, int inChannels, int outChannels, int kernel, int stride, int padding, int groups)
    {
        if (inChannels % groups != 0 || outChannels % groups != 0) throw new ArgumentException("Channels not divisible by groups.");
        (InChannels, OutChannels, Kernel, Stride, Padding, Groups) = (inChannels, outChannels, kernel, stride, padding, groups);
        _weight = weight;
        _bias = bias;
        bool pointwise = kernel == 1 && stride == 1 && padding == 0 && groups == 1;
        if (!pointwise)
        {
            if (groups == inChannels && groups == outChannels && stride is 1 or 2)
                _depthwise = new TinyViTDepthwiseConv(weight, bias, outChannels, kernel, stride, padding);
            else
                _conv = new Conv2d(weight, bias, inChannels, outChannels, kernel, kernel, stride, padding, groups);
        }
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
        var (weight, bias) = Fold(conv, gamma, beta, mean, var, outChannels);
        return new TinyViTConvBN(weight, bias, inChannels, outChannels, kernel, stride, padding, groups);
    }

    /// <summary>
    /// BN(conv(x)) = conv(x)·s + (β − μ·s) with s = γ / √(σ² + ε); computed in double so the only
    /// float rounding left is the final one of each folded value.
    /// </summary>
    internal static (float[] Weight, float[] Bias) Fold(float[] conv, float[] gamma, float[] beta, float[] mean, float[] var, int outChannels)
    {
        int per = conv.Length / outChannels;
        var weight = new float[conv.Length];
        var bias = new float[outChannels];
        for (int o = 0; o < outChannels; o++)
        {
            double s = gamma[o] / Math.Sqrt((double)var[o] + BatchNormEps);
            for (int i = 0; i < per; i++) weight[o * per + i] = (float)(conv[o * per + i] * s);
            bias[o] = (float)(beta[o] - mean[o] * s);
        }
        return (weight, bias);
    }

    public (int H, int W) OutputSize(int h, int w) =>
        ((h + 2 * Padding - Kernel) / Stride + 1, (w + 2 * Padding - Kernel) / Stride + 1);

    /// <summary>Planar [Cin, h·w] in, planar [Cout, oh·ow] out.</summary>
    public float[] Forward(float[] input, int h, int w)
    {
        if (input.Length != InChannels * h * w) throw new ArgumentException("Conv2d_BN input has the wrong size.");
        if (_depthwise is not null) return _depthwise.Forward(input, h, w);
        if (_conv is not null) return _conv.Forward(input, h, w);
        int pixels = h * w;
        var output = new float[OutChannels * pixels];
        for (int o = 0; o < OutChannels; o++) output.AsSpan(o * pixels, pixels).Fill(_bias[o]);
        Gemm.MatMul(_weight, input, output, OutChannels, InChannels, pixels, accumulate: true);
        return output;
    }
}
