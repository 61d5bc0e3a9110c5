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
    // The rel-pos tables as prepacked Bᵀ operands of the per-query dot products.
    private readonly PackedMatrix? _relPosHPacked, _relPosWPacked;
    private readonly RelPosTables? _relPos;
    private readonly MlpBlock _mlp;
    private readonly int _dim, _heads, _window;

    private ViTBlock(LayerNormParams norm1, LayerNormParams norm2, Linear qkv, Linear proj, float[]? relH, float[]? relW, MlpBlock mlp, int dim, int heads, int window)
    {
        (_norm1, _norm2, _qkv, _proj, _relPosH, _relPosW, _mlp, _dim, _heads, _window) = (norm1, norm2, qkv, proj, relH, relW, mlp, dim, heads, window);
        int headDim = dim / heads;
        if (relH is not null) _relPosHPacked = Gemm.PackB(relH, headDim, relH.Length / headDim, headDim, true);
        if (relW is not null) _relPosWPacked = Gemm.PackB(relW, headDim, relW.Length / headDim, headDim, true);
        if (_relPosHPacked is not null && _relPosWPacked is not null)
            _relPos = new RelPosTables((_relPosHPacked.N + 1) / 2, (_relPosWPacked.N + 1) / 2, _relPosHPacked, _relPosWPacked);
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

    /// <summary>Runs the block on tokens x [h·w, dim] in place. Scratch comes from the shared array pool.</summary>
    public void Forward(float[] x, int h, int w)
    {
        int n = h * w, dim = _dim;
        var pool = ArrayPool<float>.Shared;
        float[] t = pool.Rent(n * dim);
        try
        {
            x.AsSpan(0, n * dim).CopyTo(t);
            _norm1.Apply(t, n);
            if (_window > 0)
            {
                int winRows = (h + _window - 1) / _window, winCols = (w + _window - 1) / _window;
                int nWin = winRows * winCols, tokensPerWin = _window * _window, rows = nWin * tokensPerWin;
                if (rows > n) PaddedWindowAttention(t, x, h, w, winRows, winCols);
                else
                {
                    // No padding: the windows are a permutation of the tokens.
                    float[] windows = pool.Rent(rows * dim), attnOut = pool.Rent(rows * dim);
                    try
                    {
                        Partition(t, windows, h, w, winRows, winCols);
                        Attention(windows, nWin, tokensPerWin, _window, _window, attnOut, null);
                        Unpartition(attnOut, x, h, w, winRows, winCols);
                    }
                    finally { pool.Return(windows); pool.Return(attnOut); }
                }
            }
            else
            {
                float[] attnOut = pool.Rent(n * dim);
                try { Attention(t, 1, n, h, w, attnOut, x); }
                finally { pool.Return(attnOut); }
            }

            x.AsSpan(0, n * dim).CopyTo(t);
            _norm2.Apply(t, n);
            _mlp.ForwardAddInto(t, n, x);
        }
        finally { pool.Return(t); }
    }

    private void Partition(float[] t, float[] windows, int h, int w, int winRows, int winCols) =>
        ForEachWindowRun(h, w, winRows, winCols,
            (image, window, count) => t.AsSpan(image * _dim, count * _dim).CopyTo(windows.AsSpan(window * _dim)), null);

    /// <summary>Adds the windowed attention output back onto the residual stream, dropping padding.</summary>
    private void Unpartition(float[] windows, float[] x, int h, int w, int winRows, int winCols) =>
        ForEachWindowRun(h, w, winRows, winCols,
            (image, window, count) => Elementwise.Add(x.AsSpan(image * _dim, count * _dim), windows.AsSpan(window * _dim, count * _dim)), null);

    /// <summary>
    /// Windowed attention when the grid is padded to whole windows (ViT-B: 64 → 70, 20 % more tokens).
    /// The official code pads the normalised tokens with zeros and runs qkv and proj on every window row;
    /// a zero row's q, k, v are the layer's response to zero (its bias) and padded rows' outputs are dropped,
    /// so qkv runs on the h·w real tokens only (then scattered into window order, the padded rows filled with
    /// that response) and proj on the real rows only, adding onto the residual stream in its epilogue.
    /// Each real row gets exactly the values of the padded computation.
    /// </summary>
    private void PaddedWindowAttention(float[] t, float[] x, int h, int w, int winRows, int winCols)
    {
        int n = h * w, dim = _dim, ld = 3 * dim, ws = _window, tokensPerWin = ws * ws;
        int nWin = winRows * winCols, rows = nWin * tokensPerWin;
        var pool = ArrayPool<float>.Shared;
        float[] qkvImage = pool.Rent(n * ld), merged = pool.Rent(rows * dim);
        float[] zero = pool.Rent(dim), padRow = pool.Rent(ld);
        float[]? qkv = null;
        try
        {
            _qkv.Forward(t, qkvImage, n);
            zero.AsSpan(0, dim).Clear();
            _qkv.Forward(zero, padRow, 1);
            if (GlobalAttention.IsSupported && (_relPosH is null || (_relPos is not null && _relPos.Height == ws && _relPos.Width == ws)))
            {
                // The fused kernel reads the windows straight from image order (padding tokens from padRow)
                // and writes the real rows back in image order: no window-order copies of qkv or the output.
                int hd = dim / _heads;
                float[] attnImage = merged;
                GlobalAttention.RunWindows(qkvImage, ld, 0, dim, 2 * dim, padRow.AsSpan(0, ld), TokenRows(h, w, winRows, winCols),
                    nWin, tokensPerWin, _heads, hd, (float)Math.Pow(hd, -0.5), attnImage, dim, _relPos);
                _proj.ForwardAddInto(attnImage, qkvImage, n, x);
                return;
            }
            qkv = pool.Rent(rows * ld);
            ForEachWindowRun(h, w, winRows, winCols,
                (image, window, count) => qkvImage.AsSpan(image * ld, count * ld).CopyTo(qkv.AsSpan(window * ld)),
                (window, count) =>
                {
                    for (int i = 0; i < count; i++) padRow.AsSpan(0, ld).CopyTo(qkv.AsSpan((window + i) * ld));
                });
            MultiHead(qkv, nWin, tokensPerWin, ws, ws, merged, ValidQueries(h, w, winRows, winCols));
            // The real rows of the attention output back in image order (qkvImage is free again).
            float[] mergedImage = qkvImage;
            ForEachWindowRun(h, w, winRows, winCols,
                (image, window, count) => merged.AsSpan(window * dim, count * dim).CopyTo(mergedImage.AsSpan(image * dim)), null);
            _proj.ForwardAddInto(mergedImage, merged, n, x);
        }
        finally
        {
            pool.Return(qkvImage); pool.Return(merged); pool.Return(zero); pool.Return(padRow);
            if (qkv is not null) pool.Return(qkv);
        }
    }

    /// <summary>
    /// Per window, the rows up to and including its last real token in window raster order: the padding
    /// after it (the bottom windows' padded rows) is never read back, so its query tiles can be skipped.
    /// Cached per grid: the same grid comes back for every windowed block of an encoder.
    /// </summary>
    private static int[] ValidQueries(int h, int w, int winRows, int winCols, int ws)
    {
        var cached = s_validQueries;
        if (cached is not null && cached.H == h && cached.W == w && cached.Ws == ws) return cached.Counts;
        var counts = new int[winRows * winCols];
        for (int wy = 0; wy < winRows; wy++)
            for (int wx = 0; wx < winCols; wx++)
            {
                int realRows = Math.Clamp(h - wy * ws, 0, ws), realCols = Math.Clamp(w - wx * ws, 0, ws);
                counts[wy * winCols + wx] = realRows == 0 || realCols == 0 ? 0 : (realRows - 1) * ws + realCols;
            }
        s_validQueries = new ValidQueryCounts(h, w, ws, counts);
        return counts;
    }

    /// <summary>For each token of each window (window order), its row in image order, or −1 for padding.</summary>
    private int[] TokenRows(int h, int w, int winRows, int winCols)
    {
        int ws = _window;
        var cached = s_tokenRows;
        if (cached is not null && cached.H == h && cached.W == w && cached.Ws == ws) return cached.Counts;
        int[] rows = GlobalAttention.WindowTokenRows(h, w, ws);
        s_tokenRows = new ValidQueryCounts(h, w, ws, rows);
        return rows;
    }

    private static ValidQueryCounts? s_tokenRows;

    private sealed record ValidQueryCounts(int H, int W, int Ws, int[] Counts);
    private static ValidQueryCounts? s_validQueries;

    private int[] ValidQueries(int h, int w, int winRows, int winCols) => ValidQueries(h, w, winRows, winCols, _window);

    /// <summary>
    /// Visits every window row in token units: each in-image run (its first token in the [h·w] map, its
    /// first token in the padded window order, its length) and, when <paramref name="padding"/> is given,
    /// each run of padding tokens (first token in window order, length).
    /// </summary>
    private void ForEachWindowRun(int h, int w, int winRows, int winCols, Action<int, int, int> visit, Action<int, int>? padding)
    {
        int ws = _window;
        for (int wy = 0; wy < winRows; wy++)
            for (int wx = 0; wx < winCols; wx++)
                for (int iy = 0; iy < ws; iy++)
                {
                    int y = wy * ws + iy, x0 = wx * ws, count = y < h ? Math.Clamp(w - x0, 0, ws) : 0;
                    int window = ((wy * winCols + wx) * ws + iy) * ws;
                    if (count > 0) visit(y * w + x0, window, count);
                    if (count < ws) padding?.Invoke(window + count, ws - count);
                }
    }

    /// <summary>
    /// Multi-head self-attention over nWin independent sequences of <paramref name="n"/> tokens, then
    /// the output projection into <paramref name="output"/> (and onto <paramref name="residual"/> when given).
    /// </summary>
    private void Attention(float[] tokens, int nWin, int n, int qh, int qw, float[] output, float[]? residual)
    {
        int dim = _dim, rows = nWin * n;
        var pool = ArrayPool<float>.Shared;
        float[] qkv = pool.Rent(rows * 3 * dim), merged = pool.Rent(rows * dim);
        try
        {
            _qkv.Forward(tokens, qkv, rows);
            MultiHead(qkv, nWin, n, qh, qw, merged);
            // The output projection: added onto the residual stream in its epilogue for a global block.
            if (residual is not null) _proj.ForwardAddInto(merged, output, rows, residual);
            else _proj.Forward(merged, output, rows);
        }
        finally { pool.Return(qkv); pool.Return(merged); }
    }

    /// <summary>
    /// Heads of the attention into <paramref name="merged"/> [rows, dim], heads side by side: the fused
    /// <see cref="GlobalAttention"/> kernel where the 512-bit kernels exist. Otherwise one task per (window,
    /// head): long sequences pack the head's keys and values once and sweep small query chunks over them;
    /// the rel-pos add and softmax run per row while it is in L1. The query scale is applied as the
    /// product's alpha; rel-pos uses the unscaled queries.
    /// </summary>
    private void MultiHead(float[] qkv, int nWin, int n, int qh, int qw, float[] merged, int[]? validQueries = null)
    {
        int dim = _dim, heads = _heads, hd = dim / heads, ld = 3 * dim;
        float scale = (float)Math.Pow(hd, -0.5);
        if (GlobalAttention.IsSupported && (_relPosH is null || (_relPos is not null && _relPos.Height == qh && _relPos.Width == qw)))
        {
            GlobalAttention.Run(qkv, ld, 0, dim, 2 * dim, nWin, n, heads, hd, scale, merged, dim, _relPos, validQueries);
            return;
        }
        bool packed = n > 1024;
        int chunk = packed ? QueryChunk : n;
        KernelParallel.For(nWin * heads, KernelParallel.MaxThreads, task =>
        {
            int head = task % heads, win = task / heads;
            int kOff = win * n * ld + dim + head * hd, vOff = kOff + dim;
            PackedMatrix? keys = packed ? Gemm.PackB(qkv.AsSpan(kOff), hd, n, ld, true) : null;
            PackedMatrix? values = packed ? Gemm.PackB(qkv.AsSpan(vOff), n, hd, ld, false) : null;
            int rowsMax = Math.Min(chunk, n);
            var pool = ArrayPool<float>.Shared;
            float[] scores = pool.Rent(rowsMax * n);
            float[] dh = pool.Rent(rowsMax * (2 * qh - 1)), dw = pool.Rent(rowsMax * (2 * qw - 1)), relW = pool.Rent(qw);
            try
            {
                for (int r0 = 0; r0 < n; r0 += chunk)
                {
                    int nr = Math.Min(chunk, n - r0);
                    Span<float> s = scores.AsSpan(0, nr * n);
                    int qOff = (win * n + r0) * ld + head * hd;
                    Span<float> output = merged.AsSpan((win * n + r0) * dim + head * hd);
                    if (keys is not null) Gemm.MatMulSerial(nr, qkv.AsSpan(qOff), ld, keys, s, n, scale);
                    else Gemm.MatMulSerial(nr, n, hd, qkv.AsSpan(qOff), ld, false, qkv.AsSpan(kOff), ld, true, s, n, alpha: scale);
                    if (_relPosH is not null) AddRelPosSoftmax(s, qkv.AsSpan(qOff), ld, r0, nr, qh, qw, dh, dw, relW);
                    else Normalization.Softmax(s, nr, n);
                    if (values is not null) Gemm.MatMulSerial(nr, s, n, values, output, dim);
                    else Gemm.MatMulSerial(nr, hd, n, s, n, false, qkv.AsSpan(vOff), ld, false, output, dim);
                }
            }
            finally
            {
                pool.Return(scores); pool.Return(dh); pool.Return(dw); pool.Return(relW);
            }
        });
    }

    /// <summary>Query rows per chunk of a global block: a multiple of the micro-kernel height whose scores fit in L2.</summary>
    private const int QueryChunk = 48;

    /// <summary>
    /// Decomposed relative positions, then the row softmax: scores[(qy,qx),(ky,kx)] += q·Rh[qy−ky] + q·Rw[qx−kx],
    /// with the unscaled queries (rows of stride <paramref name="ldq"/>). Each table is first dotted with every
    /// query (a small matrix product against the prepacked table); the width term is then one reversed slice
    /// per query row, and each row is normalised right after its add while still in L1.
    /// </summary>
    private void AddRelPosSoftmax(Span<float> scores, ReadOnlySpan<float> queries, int ldq, int rowStart, int rows, int qh, int qw,
        float[] dh, float[] dw, float[] relW)
    {
        int spanH = 2 * qh - 1, spanW = 2 * qw - 1, nk = qh * qw;
        Gemm.MatMulSerial(rows, queries, ldq, _relPosHPacked!, dh, spanH);
        Gemm.MatMulSerial(rows, queries, ldq, _relPosWPacked!, dw, spanW);
        for (int i = 0; i < rows; i++)
        {
            int qi = rowStart + i, qy = qi / qw, qx = qi % qw;
            Span<float> row = scores.Slice(i * nk, nk);
            ReadOnlySpan<float> rh = dh.AsSpan(i * spanH, spanH), rw = dw.AsSpan(i * spanW, spanW);
            Span<float> w = relW.AsSpan(0, qw);
            for (int kx = 0; kx < qw; kx++) w[kx] = rw[qx - kx + qw - 1];
            if (RelPosSoftmax.IsSupported)
            {
                unsafe
                {
                    fixed (float* pr = row) fixed (float* ph = rh) fixed (float* pw = w) RelPosSoftmax.Apply(pr, qh, qw, qy, ph, pw);
                }
                continue;
            }
            for (int ky = 0; ky < qh; ky++)
                Elementwise.AddScalarThenVector(row.Slice(ky * qw, qw), rh[qy - ky + qh - 1], w);
            Normalization.Softmax(row, 1, nk);
        }
    }
}
