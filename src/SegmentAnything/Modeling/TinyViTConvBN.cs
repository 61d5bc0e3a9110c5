using SegmentAnything.Checkpoints;
using SegmentAnything.Kernels;

namespace SegmentAnything.Modeling;

/// <summary>
/// TinyViT's <c>Conv2d_BN</c> (a bias-free convolution followed by BatchNorm2d), evaluated in eval
/// mode: the BatchNorm is folded into the convolution's weight and bias at load time. The encoder runs
/// it on channels-last maps [H·W, C] (<see cref="ForwardChannelsLast"/>): a GEMM against weights packed
/// at load for dense kernels (1x1 ones without any copy), the channels-last depthwise kernel for
/// groups = channels. <see cref="Forward"/> keeps the planar [C, H·W] form.
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
    public bool IsDepthwise => Groups == InChannels && Groups == OutChannels && Groups > 1;
    private readonly Lazy<Conv2d> _planar;
    private readonly Conv2dChannelsLast? _dense;
    private readonly DepthwiseConv2dChannelsLast? _depthwise;

    /// <param name="planarInput">The channels-last path reads a planar [Cin, H, W] input (the image).</param>
    public TinyViTConvBN(float[] weight, float[] bias, int inChannels, int outChannels, int kernel, int stride, int padding, int groups,
        bool planarInput = false)
    {
        if (inChannels % groups != 0 || outChannels % groups != 0) throw new ArgumentException("Channels not divisible by groups.");
        (InChannels, OutChannels, Kernel, Stride, Padding, Groups) = (inChannels, outChannels, kernel, stride, padding, groups);
        _planar = new Lazy<Conv2d>(() => new Conv2d(weight, bias, inChannels, outChannels, kernel, kernel, stride, padding, groups));
        if (IsDepthwise && !planarInput) _depthwise = new DepthwiseConv2dChannelsLast(weight, bias, inChannels, kernel, kernel, stride, padding);
        else if (groups == 1) _dense = new Conv2dChannelsLast(weight, bias, inChannels, outChannels, kernel, kernel, stride, padding, planarInput);
    }

    /// <summary>Binds <c>{name}.c.weight</c> and <c>{name}.bn.*</c> and folds the BatchNorm.</summary>
    public static TinyViTConvBN Load(WeightBinder w, string name, int inChannels, int outChannels, int kernel,
        int stride, int padding, int groups, bool planarInput = false)
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
        return new TinyViTConvBN(weight, bias, inChannels, outChannels, kernel, stride, padding, groups, planarInput);
    }

    public (int H, int W) OutputSize(int h, int w) =>
        ((h + 2 * Padding - Kernel) / Stride + 1, (w + 2 * Padding - Kernel) / Stride + 1);

    /// <summary>Planar [Cin, h·w] in, planar [Cout, oh·ow] out.</summary>
    public float[] Forward(float[] input, int h, int w)
    {
        if (input.Length != InChannels * h * w) throw new ArgumentException("Conv2d_BN input has the wrong size.");
        return _planar.Value.Forward(input, h, w);
    }

    /// <summary>Depthwise only: output rows [oy0, oy1) on the calling thread (see <see cref="DepthwiseConv2dChannelsLast.ForwardRows"/>).</summary>
    public void DepthwiseRows(ReadOnlySpan<float> input, int h, int w, Span<float> output, int oy0, int oy1, bool gelu)
    {
        if (_depthwise is null) throw new InvalidOperationException("Not a depthwise Conv2d_BN.");
        _depthwise.ForwardRows(input, h, w, output, oy0, oy1, gelu);
    }

    /// <summary>
    /// Channels-last [h·w, Cin] (or planar when built with planarInput) in, channels-last [oh·ow, Cout]
    /// out; <paramref name="gelu"/> applies exact GELU to the output (fused into the depthwise kernel).
    /// </summary>
    public void ForwardChannelsLast(ReadOnlySpan<float> input, int h, int w, Span<float> output, bool gelu = false)
    {
        if (input.Length < (long)InChannels * h * w) throw new ArgumentException("Conv2d_BN input has the wrong size.");
        var (oh, ow) = OutputSize(h, w);
        if (_depthwise is not null) { _depthwise.Forward(input, h, w, output, gelu); return; }
        if (_dense is null) throw new NotSupportedException("Grouped Conv2d_BN other than depthwise has no channels-last path.");
        _dense.Forward(input, h, w, output);
        if (gelu) Activations.Gelu(output[..(OutChannels * oh * ow)]);
    }
}
