using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using SegmentAnything.Checkpoints;
using SegmentAnything.Kernels;

namespace SegmentAnything.Modeling;

/// <summary>
/// TinyViT's windowed <c>Attention</c> (LeViT style): LayerNorm, qkv, per-head softmax(q·kᵀ·scale +
/// attention bias)·v, proj, applied to the windows of a token map the way <c>TinyViTBlock</c> does
/// it: zero-pad bottom/right to whole windows, attend inside each window, crop. The padded tokens
/// are not masked in the official code; their LayerNorm output is the norm's bias, so they take
/// part as keys and values with qkv(norm.bias). Per-token steps (norm, qkv, proj) run once on the
/// whole unpadded map, which is equivalent to running them per window.
/// </summary>
internal sealed class TinyViTAttention
{
    public const float LayerNormEps = 1e-5f;

    public int Dim { get; }
    public int Heads { get; }
    public int KeyDim { get; }
    public int ValueDim { get; }
    public int WindowSize { get; }
    private readonly float[] _normWeight, _normBias;
    private readonly Linear _qkv, _proj;
    private readonly float _scale;
    /// <summary>attention_biases[:, attention_bias_idxs]: [heads, N, N] for the N = window² tokens.</summary>
    private readonly float[] _bias;

    private TinyViTAttention(int dim, int heads, int keyDim, int valueDim, int windowSize, float[] normWeight, float[] normBias,
        Linear qkv, Linear proj, float[] attentionBiases)
    {
        (Dim, Heads, KeyDim, ValueDim, WindowSize) = (dim, heads, keyDim, valueDim, windowSize);
        (_normWeight, _normBias, _qkv, _proj) = (normWeight, normBias, qkv, proj);
        // The official scale is a Python float (double) applied to a float32 tensor, i.e. rounded to float32.
        _scale = (float)Math.Pow(keyDim, -0.5);
        _bias = ExpandBiases(attentionBiases, heads, windowSize, windowSize);
    }

    /// <summary>
    /// Binds <c>{name}.*</c> for a block of width <paramref name="dim"/>. Heads come from
    /// attention_biases.shape[0], the window from its number of offsets (window² for square windows);
    /// key_dim = dim / heads and attn_ratio = 1 as TinyViTBlock builds it.
    /// </summary>
    public static TinyViTAttention Load(WeightBinder w, string name, int dim)
    {
        var biases = w.Dict.Get(name + ".attention_biases")
            ?? throw new CheckpointException($"{w.Dict.Source}: missing {name}.attention_biases.");
        if (biases.Shape.Length != 2 || biases.Shape[0] <= 0 || biases.Shape[1] <= 0)
            throw new CheckpointException($"{name}.attention_biases has shape [{string.Join(", ", biases.Shape)}]; expected [heads, offsets].");
        int heads = biases.Shape[0], offsets = biases.Shape[1];
        int window = (int)Math.Round(Math.Sqrt(offsets));
        if (window * window != offsets)
            throw new CheckpointException($"{name}.attention_biases has {offsets} offsets, not the square of a window size.");
        if (dim % heads != 0)
            throw new CheckpointException($"{name}: width {dim} is not divisible by {heads} heads.");
        int keyDim = dim / heads, valueDim = keyDim;
        int qkvOut = heads * (2 * keyDim + valueDim);
        float[] ab = w.Take(name + ".attention_biases", heads, offsets);
        // A non-persistent buffer in the official code; recomputed below whatever the file holds.
        w.TakeOptional(name + ".attention_bias_idxs");
        float[] normW = w.Take(name + ".norm.weight", dim);
        float[] normB = w.Take(name + ".norm.bias", dim);
        var qkv = new Linear(w.Take(name + ".qkv.weight", qkvOut, dim), w.Take(name + ".qkv.bias", qkvOut), dim, qkvOut);
        var proj = new Linear(w.Take(name + ".proj.weight", dim, heads * valueDim), w.Take(name + ".proj.bias", dim), heads * valueDim, dim);
        return new TinyViTAttention(dim, heads, keyDim, valueDim, window, normW, normB, qkv, proj, ab);
    }

    /// <summary>
    /// The official <c>attention_bias_idxs</c> [N, N] for a resolution (rows, cols): offsets (|Δy|, |Δx|)
    /// numbered in order of first appearance over row-major point pairs.
    /// </summary>
    public static int[] BiasIndices(int rows, int cols, out int offsetCount)
    {
        int n = rows * cols;
        var idxs = new int[n * n];
        var offsets = new Dictionary<(int, int), int>();
        for (int p1 = 0; p1 < n; p1++)
            for (int p2 = 0; p2 < n; p2++)
            {
                var key = (Math.Abs(p1 / cols - p2 / cols), Math.Abs(p1 % cols - p2 % cols));
                if (!offsets.TryGetValue(key, out int id)) offsets[key] = id = offsets.Count;
                idxs[p1 * n + p2] = id;
            }
        offsetCount = offsets.Count;
        return idxs;
    }

    private static float[] ExpandBiases(float[] biases, int heads, int rows, int cols)
    {
        int[] idxs = BiasIndices(rows, cols, out int count);
        if (biases.Length != heads * count) throw new CheckpointException($"attention_biases holds {biases.Length / Math.Max(heads, 1)} offsets per head; a {rows}x{cols} window has {count}.");
        int nn = idxs.Length;
        var expanded = new float[heads * nn];
        for (int h = 0; h < heads; h++)
            for (int i = 0; i < nn; i++) expanded[h * nn + i] = biases[h * count + idxs[i]];
        return expanded;
    }

    /// <summary>Tokens [h·w, Dim] in (row-major map); x + attention(x) (after proj, cropped), [h·w, Dim] out.</summary>
    public float[] ForwardResidual(float[] x, int h, int w)
    {
        int tokens = h * w, dim = Dim, qkvOut = _qkv.OutFeatures;
        if (x.Length != tokens * dim) throw new ArgumentException("Attention input has the wrong size.");
        float[] qkv = GC.AllocateUninitializedArray<float>(tokens * qkvOut);
        TinyViTBands.Run(h, w, (r0, r1) =>
        {
            int p0 = r0 * w, n = (r1 - r0) * w;
            float[] xn = TinyViTBands.Scratch(0, n * dim);
            x.AsSpan(p0 * dim, n * dim).CopyTo(xn);
            Normalization.LayerNorm(xn, n, dim, _normWeight, _normBias, LayerNormEps);
            _qkv.Forward(xn, qkv.AsSpan(p0 * qkvOut, n * qkvOut), n);
        });

        int ws = WindowSize;
        int nH = (h + ws - 1) / ws, nW = (w + ws - 1) / ws;
        bool padded = nH * ws != h || nW * ws != w;
        // F.pad feeds zeros to LayerNorm, whose output is then exactly the norm's bias.
        float[] padRow = padded ? _qkv.Forward(_normBias, 1) : [];

        int heads = Heads, kd = KeyDim, vd = ValueDim, n = ws * ws, stride = 2 * kd + vd;
        int rowWidth = heads * stride, ctxWidth = heads * vd;
        var context = GC.AllocateUninitializedArray<float>(tokens * ctxWidth);
        // One window per item, its heads in turn: the window's qkv rows are gathered once (whole
        // token rows, all heads), and every product reads its head as a strided view of them.
        KernelParallel.ForEachSerial(nH * nW, window =>
        {
            var s = _scratch ??= new Scratch();
            s.Ensure(n * rowWidth, n * n, n * ctxWidth);
            int wy = window / nW, wx = window % nW;
            for (int t = 0; t < n; t++)
            {
                int y = wy * ws + t / ws, xx = wx * ws + t % ws;
                ReadOnlySpan<float> src = y < h && xx < w ? qkv.AsSpan((y * w + xx) * rowWidth, rowWidth) : padRow.AsSpan();
                src.CopyTo(s.Qkv.AsSpan(t * rowWidth, rowWidth));
            }
            for (int head = 0; head < heads; head++)
            {
                int offset = head * stride;
                // scores = (q·kᵀ)·scale, then + bias and softmax, as the official order.
                Gemm.MatMulSerial(n, n, kd, s.Qkv.AsSpan(offset), rowWidth, false, s.Qkv.AsSpan(offset + kd), rowWidth, true,
                    s.Scores, n, _scale);
                AddInPlace(s.Scores.AsSpan(0, n * n), _bias.AsSpan(head * n * n, n * n));
                Normalization.Softmax(s.Scores, n, n);
                Gemm.MatMulSerial(n, vd, n, s.Scores, n, false, s.Qkv.AsSpan(offset + 2 * kd), rowWidth, false,
                    s.Context.AsSpan(head * vd), ctxWidth);
            }
            for (int t = 0; t < n; t++)
            {
                int y = wy * ws + t / ws, xx = wx * ws + t % ws;
                if (y < h && xx < w) s.Context.AsSpan(t * ctxWidth, ctxWidth).CopyTo(context.AsSpan((y * w + xx) * ctxWidth, ctxWidth));
            }
        });
        float[] y = GC.AllocateUninitializedArray<float>(tokens * dim);
        TinyViTBands.Run(h, w, (r0, r1) =>
        {
            int p0 = r0 * w, n = (r1 - r0) * w;
            Span<float> ys = y.AsSpan(p0 * dim, n * dim);
            _proj.Forward(context.AsSpan(p0 * ctxWidth, n * ctxWidth), ys, n);
            TinyViTMBConv.AddInPlace(ys, x.AsSpan(p0 * dim, n * dim));
        });
        return y;
    }

    [ThreadStatic] private static Scratch? _scratch;

    /// <summary>Per-thread window buffers, grown on demand and kept between calls.</summary>
    private sealed class Scratch
    {
        public float[] Qkv = [], Scores = [], Context = [];

        public void Ensure(int qkv, int scores, int context)
        {
            if (Qkv.Length < qkv) Qkv = new float[qkv];
            if (Scores.Length < scores) Scores = new float[scores];
            if (Context.Length < context) Context = new float[context];
        }
    }

    private static void AddInPlace(Span<float> s, ReadOnlySpan<float> bias)
    {
        int i = 0, vw = Vector<float>.Count;
        for (; i <= s.Length - vw; i += vw) (new Vector<float>(s.Slice(i)) + new Vector<float>(bias.Slice(i))).CopyTo(s.Slice(i));
        for (; i < s.Length; i++) s[i] += bias[i];
    }

    /// <summary>c[m, n] = a[m, k] · b[k, n] for the small per-window products, accumulating in registers.</summary>
    internal static void SmallMatMul(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c, int m, int k, int n)
    {
        if (a.Length < m * k || b.Length < k * n || c.Length < m * n) throw new ArgumentException("Operand too small.");
        int vw = Vector<float>.Count;
        ref float pa = ref MemoryMarshal.GetReference(a);
        ref float pb = ref MemoryMarshal.GetReference(b);
        ref float pc = ref MemoryMarshal.GetReference(c);
        for (int i = 0; i < m; i++)
        {
            int aRow = i * k, cRow = i * n;
            if (n < vw)
            {
                for (int j = 0; j < n; j++)
                {
                    float acc = 0;
                    for (int p = 0; p < k; p++) acc += a[aRow + p] * b[p * n + j];
                    c[cRow + j] = acc;
                }
                continue;
            }
            int col = 0;
            for (; col + 2 * vw <= n; col += 2 * vw) Columns(ref pa, ref pb, ref pc, aRow, cRow, col, k, n, pair: true);
            if (col + vw <= n) { Columns(ref pa, ref pb, ref pc, aRow, cRow, col, k, n, pair: false); col += vw; }
            // The tail overlaps columns already written; recomputing them yields the same values.
            if (col < n) Columns(ref pa, ref pb, ref pc, aRow, cRow, n - vw, k, n, pair: false);
        }
    }

    /// <summary>One or two vectors of output columns of one row; two accumulators hide the add latency.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Columns(ref float pa, ref float pb, ref float pc, int aRow, int cRow, int col, int k, int n, bool pair)
    {
        int vw = Vector<float>.Count;
        var acc0 = Vector<float>.Zero;
        var acc1 = Vector<float>.Zero;
        for (int p = 0; p < k; p++)
        {
            var av = new Vector<float>(Unsafe.Add(ref pa, aRow + p));
            acc0 += av * Load(ref pb, p * n + col);
            if (pair) acc1 += av * Load(ref pb, p * n + col + vw);
        }
        Store(ref pc, cRow + col, acc0);
        if (pair) Store(ref pc, cRow + col + vw, acc1);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector<float> Load(ref float origin, int offset) =>
        Unsafe.ReadUnaligned<Vector<float>>(ref Unsafe.As<float, byte>(ref Unsafe.Add(ref origin, offset)));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(ref float origin, int offset, Vector<float> value) =>
        Unsafe.WriteUnaligned(ref Unsafe.As<float, byte>(ref Unsafe.Add(ref origin, offset)), value);
}
