using SegmentAnything.Checkpoints;

namespace SegmentAnything.Tests.Modeling;

/// <summary>
/// A literal, slow transcription of the official TinyViTBlock forward (pad → window partition →
/// Attention on each window → reverse → crop → residual → Conv2d_BN local conv with an unfused
/// BatchNorm → residual Mlp), in double precision, to check the optimised block against.
/// </summary>
internal static class TinyViTNaiveReference
{
    public static double[] Block(Dictionary<string, CheckpointTensor> d, string name, double[] x, int h, int w, int dim, int heads, int ws)
    {
        int l = h * w;
        int pH = (h + ws - 1) / ws * ws, pW = (w + ws - 1) / ws * ws;
        var padded = new double[pH * pW * dim];
        for (int y = 0; y < h; y++)
            for (int i = 0; i < w; i++)
                Array.Copy(x, (y * w + i) * dim, padded, (y * pW + i) * dim, dim);
        var attnOut = new double[pH * pW * dim];
        int n = ws * ws;
        for (int wy = 0; wy < pH / ws; wy++)
            for (int wx = 0; wx < pW / ws; wx++)
            {
                var win = new double[n * dim];
                for (int t = 0; t < n; t++)
                    Array.Copy(padded, ((wy * ws + t / ws) * pW + wx * ws + t % ws) * dim, win, t * dim, dim);
                double[] o = Attention(d, name + ".attn", win, n, dim, heads, ws);
                for (int t = 0; t < n; t++)
                    Array.Copy(o, t * dim, attnOut, ((wy * ws + t / ws) * pW + wx * ws + t % ws) * dim, dim);
            }
        var x1 = new double[l * dim];
        for (int y = 0; y < h; y++)
            for (int i = 0; i < w; i++)
                for (int c = 0; c < dim; c++)
                    x1[(y * w + i) * dim + c] = x[(y * w + i) * dim + c] + attnOut[(y * pW + i) * dim + c];
        // Local conv on the [C, H, W] view, BatchNorm applied after the convolution as in eval mode.
        var cw = d[name + ".local_conv.c.weight"].Floats;
        int k = d[name + ".local_conv.c.weight"].Shape[2], pad = k / 2;
        var x2 = new double[l * dim];
        for (int c = 0; c < dim; c++)
        {
            double g = d[name + ".local_conv.bn.weight"].Floats[c], b = d[name + ".local_conv.bn.bias"].Floats[c];
            double m = d[name + ".local_conv.bn.running_mean"].Floats[c], v = d[name + ".local_conv.bn.running_var"].Floats[c];
            for (int y = 0; y < h; y++)
                for (int i = 0; i < w; i++)
                {
                    double acc = 0;
                    for (int ky = 0; ky < k; ky++)
                        for (int kx = 0; kx < k; kx++)
                        {
                            int iy = y - pad + ky, ix = i - pad + kx;
                            if (iy >= 0 && iy < h && ix >= 0 && ix < w) acc += cw[(c * k + ky) * k + kx] * x1[(iy * w + ix) * dim + c];
                        }
                    x2[(y * w + i) * dim + c] = (acc - m) / Math.Sqrt(v + 1e-5) * g + b;
                }
        }
        var hidden = d[name + ".mlp.fc1.weight"].Shape[0];
        var outp = new double[l * dim];
        for (int t = 0; t < l; t++)
        {
            double[] row = LayerNorm(d, name + ".mlp.norm", x2.AsSpan(t * dim, dim));
            double[] a = Linear(d, name + ".mlp.fc1", row, dim, hidden);
            for (int j = 0; j < hidden; j++) a[j] = 0.5 * a[j] * (1 + SegmentAnything.Kernels.MathExtra.Erf(a[j] / Math.Sqrt(2)));
            double[] z = Linear(d, name + ".mlp.fc2", a, hidden, dim);
            for (int c = 0; c < dim; c++) outp[t * dim + c] = x2[t * dim + c] + z[c];
        }
        return outp;
    }

    public static double[] Attention(Dictionary<string, CheckpointTensor> d, string name, double[] x, int n, int dim, int heads, int ws)
    {
        int kd = dim / heads;
        var qkv = new double[n][];
        for (int t = 0; t < n; t++) qkv[t] = Linear(d, name + ".qkv", LayerNorm(d, name + ".norm", x.AsSpan(t * dim, dim)), dim, 3 * dim);
        var ab = d[name + ".attention_biases"].Floats;
        int offsets = d[name + ".attention_biases"].Shape[1];
        var ctx = new double[n * dim];
        for (int hd = 0; hd < heads; hd++)
            for (int i = 0; i < n; i++)
            {
                var s = new double[n];
                for (int j = 0; j < n; j++)
                {
                    double dot = 0;
                    for (int p = 0; p < kd; p++) dot += qkv[i][hd * 3 * kd + p] * qkv[j][hd * 3 * kd + kd + p];
                    // For square windows the first-appearance offset numbering is |dy|·ws + |dx|.
                    int off = Math.Abs(i / ws - j / ws) * ws + Math.Abs(i % ws - j % ws);
                    Assert.True(off < offsets);
                    s[j] = dot * Math.Pow(kd, -0.5) + ab[hd * offsets + off];
                }
                double max = s.Max(), sum = 0;
                for (int j = 0; j < n; j++) { s[j] = Math.Exp(s[j] - max); sum += s[j]; }
                for (int p = 0; p < kd; p++)
                {
                    double acc = 0;
                    for (int j = 0; j < n; j++) acc += s[j] / sum * qkv[j][hd * 3 * kd + 2 * kd + p];
                    ctx[i * dim + hd * kd + p] = acc;
                }
            }
        var o = new double[n * dim];
        for (int t = 0; t < n; t++) Linear(d, name + ".proj", ctx.AsSpan(t * dim, dim).ToArray(), dim, dim).CopyTo(o, t * dim);
        return o;
    }

    private static double[] LayerNorm(Dictionary<string, CheckpointTensor> d, string name, ReadOnlySpan<double> x)
    {
        double mean = 0, var = 0;
        foreach (double v in x) mean += v;
        mean /= x.Length;
        foreach (double v in x) var += (v - mean) * (v - mean);
        var /= x.Length;
        var w = d[name + ".weight"].Floats;
        var b = d[name + ".bias"].Floats;
        var y = new double[x.Length];
        for (int i = 0; i < x.Length; i++) y[i] = (x[i] - mean) / Math.Sqrt(var + 1e-5) * w[i] + b[i];
        return y;
    }

    private static double[] Linear(Dictionary<string, CheckpointTensor> d, string name, double[] x, int cin, int cout)
    {
        var w = d[name + ".weight"].Floats;
        var b = d[name + ".bias"].Floats;
        var y = new double[cout];
        for (int o = 0; o < cout; o++)
        {
            double acc = b[o];
            for (int i = 0; i < cin; i++) acc += w[o * cin + i] * x[i];
            y[o] = acc;
        }
        return y;
    }
}
