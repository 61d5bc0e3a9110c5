using System.Runtime.Intrinsics;

namespace SegmentAnything.Kernels;

/// <summary>
/// Depthwise convolution (one filter per channel), vectorised along the output width. Each channel's
/// input is first copied into a zero-padded plane split into <c>stride</c> column phases, so that for
/// every tap the inputs of consecutive output columns are contiguous: output column ox reads phase
/// kx mod stride at column ox + kx / stride. That turns stride 2 into plain unit-stride vector loads.
/// </summary>
public static class DepthwiseConv2d
{
    public static void Forward(ReadOnlySpan<float> input, int h, int w, float[] weight, float[]? bias,
        int channels, int kernelH, int kernelW, int stride, int padding, Span<float> output, int oh, int ow)
    {
        if (input.Length < (long)channels * h * w || output.Length < (long)channels * oh * ow)
            throw new ArgumentException("Depthwise conv buffers too small.");
        if (weight.Length < channels * kernelH * kernelW) throw new ArgumentException("Depthwise weight too small.");
        int vec = Vector256<float>.Count;
        int owPad = (ow + vec - 1) / vec * vec;
        int hp = h + 2 * padding;
        // Phase row long enough for the widest vector read: owPad + (kernelW-1)/stride.
        int phaseW = owPad + (kernelW - 1) / stride + 1;
        unsafe
        {
            fixed (float* pin = input) fixed (float* pout = output)
            {
                nint ipIn = (nint)pin, ipOut = (nint)pout;
                int perChannel = h * w * kernelH * kernelW;
                KernelParallel.ForRanges(channels, Math.Max(1, (1 << 16) / Math.Max(1, perChannel)), (c0, c1) =>
                {
                    var planes = GC.AllocateUninitializedArray<float>(stride * hp * phaseW);
                    var rowOut = new float[owPad];
                    for (int c = c0; c < c1; c++)
                        Channel((float*)ipIn + (long)c * h * w, h, w, weight.AsSpan(c * kernelH * kernelW, kernelH * kernelW),
                            bias is null ? 0f : bias[c], kernelH, kernelW, stride, padding,
                            (float*)ipOut + (long)c * oh * ow, oh, ow, planes, phaseW, rowOut);
                });
            }
        }
    }

    private static unsafe void Channel(float* x, int h, int w, ReadOnlySpan<float> wt, float bias,
        int kh, int kw, int stride, int pad, float* y, int oh, int ow, float[] planes, int phaseW, float[] rowOut)
    {
        int hp = h + 2 * pad;
        Array.Clear(planes);
        fixed (float* pl = planes) fixed (float* ro = rowOut) fixed (float* pw = wt)
        {
            // Scatter the padded plane into phases: padded column xp goes to phase xp % stride, index xp / stride.
            for (int iy = 0; iy < h; iy++)
            {
                float* src = x + (long)iy * w;
                if (stride == 1)
                    new ReadOnlySpan<float>(src, w).CopyTo(new Span<float>(pl + (long)(iy + pad) * phaseW + pad, w));
                else
                    for (int ix = 0; ix < w; ix++)
                    {
                        int xp = ix + pad;
                        pl[((long)(xp % stride) * hp + iy + pad) * phaseW + xp / stride] = src[ix];
                    }
            }
            int owPad = rowOut.Length;
            var vb = Vector256.Create(bias);
            for (int oy = 0; oy < oh; oy++)
            {
                for (int ox = 0; ox < owPad; ox += Vector256<float>.Count)
                {
                    var acc = vb;
                    for (int ky = 0; ky < kh; ky++)
                    {
                        int iy = oy * stride + ky;
                        for (int kx = 0; kx < kw; kx++)
                        {
                            float* row = pl + ((long)(kx % stride) * hp + iy) * phaseW + kx / stride;
                            acc = Vector256.FusedMultiplyAdd(Vector256.Create(pw[ky * kw + kx]), Vector256.Load(row + ox), acc);
                        }
                    }
                    acc.Store(ro + ox);
                }
                new ReadOnlySpan<float>(ro, ow).CopyTo(new Span<float>(y + (long)oy * ow, ow));
            }
        }
    }
}
