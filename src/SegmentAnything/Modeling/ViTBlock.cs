using System.Buffers;
using SegmentAnything.Checkpoints;
using SegmentAnything.Kernels;

namespace SegmentAnything.Modeling;

/// <summary>
/// One block of the SAM ViT encoder (image_encoder.py <c>Block</c> and <c>Attention</c>): pre-norm
/// windowed or global multi-head attention with decomposed relative positions, then a GELU MLP.
/// Tokens are kept channels-last, [H·W, dim].
/// </summary>
internal sealed class ViTBlock
{
    private readonly LayerNormParams _norm1, _norm2;
    private readonly Linear _qkv, _proj;
    private readonly float[]? _relPosH, _relPosW;
    private readonly MlpBlock _mlp;
    private readonly int _dim, _heads, _window;

    private ViTBlock(LayerNormParams norm1, LayerNormParams norm2, Linear qkv, Linear proj, float[]? relH, float[]? relW, MlpBlock mlp, int dim, int heads, int window)
    {
        (_norm1, _norm2, _qkv, _proj, _relPosH, _relPosW, _mlp, _dim, _heads, _window) = (norm1, norm2, qkv, proj, relH, relW, mlp, dim, heads, window);
    }

    public static ViTBlock Load(WeightBinder w, string name, ImageEncoderViTConfig c, int window)
    {
        int dim = c.EmbedDim, headDim = dim / c.NumHeads;
        int span = 2 * (window > 0 ? window : c.GridSize) - 1;
        return new ViTBlock(
            LayerNormParams.Load(w, name + ".norm1", dim, 1e-6f),
            LayerNormParams.Load(w, name + ".norm2", dim, 1e-6f),
            Layers.Linear(w, name + ".attn.qkv", dim, 3 * dim, c.QkvBias),
            Layers.Linear(w, name + ".attn.proj", dim, dim),
            c.UseRelPos ? w.Take(name + ".attn.rel_pos_h", span, headDim) : null,
            c.UseRelPos ? w.Take(name + ".attn.rel_pos_w", span, headDim) : null,
            MlpBlock.Load(w, name + ".mlp", dim, c.MlpDim, gelu: true),
            dim, c.NumHeads, window);
    }

    /// <summary>Runs the block on tokens x [h·w, dim] in place.</summary>
    public void Forward(float[] x, int h, int w)
    {
        int n = h * w, dim = _dim;
        var t = new float[n * dim];
        x.AsSpan().CopyTo(t);
        _norm1.Apply(t, n);

        int size = _window > 0 ? _window : h;
        int sizeW = _window > 0 ? _window : w;
        int winRows = _window > 0 ? (h + _window - 1) / _window : 1;
        int winCols = _window > 0 ? (w + _window - 1) / _window : 1;
        int nWin = winRows * winCols, tokensPerWin = size * sizeW;
        // Window partition pads with zeros after the norm; padded tokens take part in attention as the official code does.
        float[] windows = _window > 0 ? Partition(t, h, w, winRows, winCols) : t;
        float[] attnOut = Attention(windows, nWin, tokensPerWin, size, sizeW);
        if (_window > 0) Unpartition(attnOut, x, h, w, winRows, winCols);
        else Elementwise.Add(x, attnOut);

        Array.Copy(x, t, x.Length);
        _norm2.Apply(t, n);
        Elementwise.Add(x, _mlp.Forward(t, n));
    }

    private float[] Partition(float[] t, int h, int w, int winRows, int winCols)
    {
        var windows = new float[winRows * winCols * _window * _window * _dim];
        ForEachWindowRow(h, w, winRows, winCols, (image, window, length) => t.AsSpan(image, length).CopyTo(windows.AsSpan(window)));
        return windows;
    }

    /// <summary>Adds the windowed attention output back onto the residual stream, dropping padding.</summary>
    private void Unpartition(float[] windows, float[] x, int h, int w, int winRows, int winCols) =>
        ForEachWindowRow(h, w, winRows, winCols, (image, window, length) => Elementwise.Add(x.AsSpan(image, length), windows.AsSpan(window, length)));

    /// <summary>
    /// Visits every in-image run of a window row: its offset in the [h·w, dim] token map, its offset in
    /// the padded window buffer, and its length in floats. Padding rows and columns are skipped.
    /// </summary>
    private void ForEachWindowRow(int h, int w, int winRows, int winCols, Action<int, int, int> visit)
    {
        int ws = _window, dim = _dim;
        for (int wy = 0; wy < winRows; wy++)
            for (int wx = 0; wx < winCols; wx++)
                for (int iy = 0; iy < ws; iy++)
                {
                    int y = wy * ws + iy, x0 = wx * ws, count = Math.Min(ws, w - x0);
                    if (y >= h || count <= 0) continue;
                    visit((y * w + x0) * dim, (((wy * winCols + wx) * ws + iy) * ws) * dim, count * dim);
                }
    }

    /// <summary>
    /// Multi-head self-attention over nWin independent sequences of <paramref name="n"/> tokens, then
    /// the output projection. Heads are read in place from the qkv rows (strided products, no copies);
    /// the query scale is applied as the product's alpha.
    /// </summary>
    private float[] Attention(float[] tokens, int nWin, int n, int qh, int qw)
    {
        int dim = _dim, heads = _heads, hd = dim / heads, rows = nWin * n, ld = 3 * dim;
        float[] qkv = _qkv.Forward(tokens, rows);
        var merged = new float[rows * dim];
        float scale = (float)Math.Pow(hd, -0.5);
        // Long sequences (global blocks) are split by query rows so both cores stay busy.
        int chunk = n > 1024 ? 512 : n;
        int chunks = (n + chunk - 1) / chunk;
        KernelParallel.For(nWin * heads * chunks, KernelParallel.MaxThreads, task =>
        {
            int c = task % chunks, head = task / chunks % heads, win = task / chunks / heads;
            int r0 = c * chunk, nr = Math.Min(chunk, n - r0);
            float[] scores = ArrayPool<float>.Shared.Rent(nr * n);
            try
            {
                Span<float> s = scores.AsSpan(0, nr * n);
                int qOff = (win * n + r0) * ld + head * hd, kOff = win * n * ld + dim + head * hd, vOff = kOff + dim;
                Gemm.MatMulSerial(nr, n, hd, qkv.AsSpan(qOff), ld, false, qkv.AsSpan(kOff), ld, true, s, n, alpha: scale);
                if (_relPosH is not null) AddRelPos(s, qkv.AsSpan(qOff), ld, r0, nr, qh, qw, hd);
                Normalization.Softmax(s, nr, n);
                Gemm.MatMulSerial(nr, hd, n, s, n, false, qkv.AsSpan(vOff), ld, false, merged.AsSpan((win * n + r0) * dim + head * hd), dim);
            }
            finally
            {
                ArrayPool<float>.Shared.Return(scores);
            }
        });
        return _proj.Forward(merged, rows);
    }

    /// <summary>
    /// Decomposed relative positions: scores[(qy,qx),(ky,kx)] += q·Rh[qy−ky] + q·Rw[qx−kx], with the
    /// unscaled queries (rows of stride <paramref name="ldq"/>). Each table is first dotted with every
    /// query (a small matrix product); the width term is then one reversed slice per query row.
    /// </summary>
    private void AddRelPos(Span<float> scores, ReadOnlySpan<float> queries, int ldq, int rowStart, int rows, int qh, int qw, int hd)
    {
        int spanH = 2 * qh - 1, spanW = 2 * qw - 1, nk = qh * qw;
        var pool = ArrayPool<float>.Shared;
        float[] dh = pool.Rent(rows * spanH), dw = pool.Rent(rows * spanW), relW = pool.Rent(qw);
        try
        {
            Gemm.MatMulSerial(rows, spanH, hd, queries, ldq, false, _relPosH, hd, true, dh, spanH);
            Gemm.MatMulSerial(rows, spanW, hd, queries, ldq, false, _relPosW, hd, true, dw, spanW);
            for (int i = 0; i < rows; i++)
            {
                int qi = rowStart + i, qy = qi / qw, qx = qi % qw;
                Span<float> row = scores.Slice(i * nk, nk);
                ReadOnlySpan<float> rh = dh.AsSpan(i * spanH, spanH), rw = dw.AsSpan(i * spanW, spanW);
                Span<float> w = relW.AsSpan(0, qw);
                for (int kx = 0; kx < qw; kx++) w[kx] = rw[qx - kx + qw - 1];
                for (int ky = 0; ky < qh; ky++)
                    Elementwise.AddScalarThenVector(row.Slice(ky * qw, qw), rh[qy - ky + qh - 1], w);
            }
        }
        finally
        {
            pool.Return(dh); pool.Return(dw); pool.Return(relW);
        }
    }
}
