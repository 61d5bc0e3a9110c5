using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SegmentAnything.Kernels;

/// <summary>
/// The decomposed relative-position terms of SAM's attention (image_encoder.py <c>add_decomposed_rel_pos</c>)
/// for a qh x qw token grid: each table is prepacked as the Bᵀ operand [headDim, 2·size−1] of q·R.
/// </summary>
public sealed record RelPosTables(int Height, int Width, PackedMatrix TableH, PackedMatrix TableW)
{
    private float[]? _panelsH, _panelsW;

    /// <summary>
    /// The tables again as 12-row A panels [K][12] (rows zero-padded): the attention multiplies them
    /// with the query tile it has already packed, so q·R needs no packing of its own per tile.
    /// Built on first use; a race builds identical arrays.
    /// </summary>
    internal float[] PanelsH => _panelsH ??= ToAPanels(TableH);
    internal float[] PanelsW => _panelsW ??= ToAPanels(TableW);

    private static float[] ToAPanels(PackedMatrix t)
    {
        const int mr = GemmMicroKernels.Mr512;
        int k = t.K, n = t.N, nr = GemmIsaInfo.Nr(t.Isa), kcBlock = GemmDriver.KcBlock(k);
        long nPad = (n + nr - 1) / nr * nr;
        int panels = (n + mr - 1) / mr;
        var a = GC.AllocateArray<float>(Math.Max(1, panels * mr * k), pinned: true);
        unsafe
        {
            float* b = t.Pointer;
            for (int p = 0; p < k; p++)
            {
                int pc = p / kcBlock * kcBlock, kc = Math.Min(kcBlock, k - pc);
                for (int j = 0; j < n; j++)
                    a[(j / mr * k + p) * mr + j % mr] = b[pc * nPad + (long)(j / nr) * kc * nr + (long)(p - pc) * nr + j % nr];
            }
        }
        return a;
    }
}

/// <summary>
/// Multi-head self-attention over one long sequence (the encoders' global blocks), computed transposed:
/// for a tile of 32 queries, Sᵀ = K·Qᵀ is built key-row by key-row with the 12x32 GEMM micro-kernel
/// (keys packed once per head as A panels, the query tile as one B panel that stays in L1), so each
/// key row of Sᵀ holds the 32 queries side by side: the softmax over keys becomes two vector lanes per
/// row (max, exp and sum with no horizontal reductions), and Sᵀ is already the packed B panel of
/// Oᵀ = Vᵀ·P. The score tile (keys x 32) stays in L2; the 4096x4096 matrix never exists.
/// The division by the softmax sum is applied to the 32x64 output instead of the 32x4096 probabilities
/// (a difference of one rounding). Requires the 512-bit GEMM kernels (<see cref="IsSupported"/>).
/// </summary>
public static unsafe class GlobalAttention
{
    public static bool IsSupported => Gemm.Isa == GemmIsa.Vector512 && Vector512.IsHardwareAccelerated && System.Runtime.Intrinsics.X86.Avx512F.IsSupported;

    private const int QueryTile = GemmMicroKernels.Nr512; // 32 queries: one B panel
    private const int KeyPanel = GemmMicroKernels.Mr512;  // 12 keys per Sᵀ micro-tile
    private const int ValuePanel = 8;                     // head dims per Oᵀ micro-tile (64 = 8·8)

    [ThreadStatic] private static AlignedBuffer? t_scratch, t_packed, t_window;

    /// <summary>
    /// output[i, h·hd + d] = Σⱼ softmax_j(scale·q_i·k_j (+ rel-pos)) · v_j[d] for every head h, where q, k
    /// and v rows of token i start at <paramref name="qkv"/>[i·ld + qOff/kOff/vOff + h·hd].
    /// With <paramref name="relPos"/> the unscaled q·Rh[qy−ky] and q·Rw[qx−kx] are added to the scaled scores
    /// ((s + h) + w, the official order), for n = Height·Width tokens in raster order.
    /// </summary>
    public static void Run(ReadOnlySpan<float> qkv, int ld, int qOff, int kOff, int vOff, int n, int heads, int hd,
        float scale, Span<float> output, int ldo, RelPosTables? relPos = null) =>
        Run(qkv, ld, qOff, kOff, vOff, 1, n, heads, hd, scale, output, ldo, relPos);

    /// <summary>
    /// The same over <paramref name="sequences"/> independent sequences of n tokens stored one after
    /// another (the windows of a windowed block): sequence s occupies rows [s·n, (s+1)·n) of qkv and output.
    /// </summary>
    public static void Run(ReadOnlySpan<float> qkv, int ld, int qOff, int kOff, int vOff, int sequences, int n, int heads, int hd,
        float scale, Span<float> output, int ldo, RelPosTables? relPos = null) =>
        Run(qkv, ld, qOff, kOff, vOff, sequences, n, heads, hd, scale, output, ldo, relPos, ReadOnlySpan<int>.Empty);

    /// <summary>
    /// The same, where only the first <paramref name="validQueries"/>[s] query rows of sequence s are
    /// wanted (a padded window whose padding tokens all come after its last real token in raster order,
    /// e.g. the bottom windows of a padded grid): every key still takes part, but query tiles that lie
    /// wholly at or past that count are skipped and their output rows are left unwritten. Rows below the
    /// count get exactly the values of the full computation (a query tile is computed as it would be
    /// without the count). An empty span means every query of every sequence.
    /// </summary>
    public static void Run(ReadOnlySpan<float> qkv, int ld, int qOff, int kOff, int vOff, int sequences, int n, int heads, int hd,
        float scale, Span<float> output, int ldo, RelPosTables? relPos, ReadOnlySpan<int> validQueries)
    {
        if (!IsSupported) throw new PlatformNotSupportedException("GlobalAttention needs the 512-bit GEMM kernels.");
        if (sequences <= 0 || n <= 0 || heads <= 0 || hd <= 0) throw new ArgumentException("Attention sizes must be positive.");
        int width = heads * hd;
        if (qOff < 0 || kOff < 0 || vOff < 0 || Math.Max(qOff, Math.Max(kOff, vOff)) + width > ld)
            throw new ArgumentException("q/k/v column blocks do not fit the row stride.");
        int rowsTotal = checked(sequences * n);
        Gemm.CheckOperand(qkv, 0, rowsTotal, ld, ld, "qkv");
        Gemm.CheckOperand(output, 0, rowsTotal, width, ldo, "output");
        if (relPos is not null && (relPos.Height * relPos.Width != n || relPos.TableH.K != hd || relPos.TableW.K != hd
            || relPos.TableH.N != 2 * relPos.Height - 1 || relPos.TableW.N != 2 * relPos.Width - 1))
            throw new ArgumentException("Relative-position tables do not match the token grid.");
        if (!validQueries.IsEmpty && validQueries.Length != sequences)
            throw new ArgumentException("validQueries needs one count per sequence.", nameof(validQueries));
        foreach (int v in validQueries)
            if ((uint)v > (uint)n) throw new ArgumentOutOfRangeException(nameof(validQueries), "A valid-query count lies outside [0, n].");
        // Copied so the parallel bodies can read it; no copy (and no allocation) when every query is wanted.
        int[]? validCopy = validQueries.IsEmpty ? null : validQueries.ToArray();

        int keyPanels = (n + KeyPanel - 1) / KeyPanel, hdPad = (hd + ValuePanel - 1) / ValuePanel * ValuePanel;
        long kFloats = (long)keyPanels * KeyPanel * hd, perHead = kFloats + (long)hdPad * n;
        int tiles = (n + QueryTile - 1) / QueryTile, pairs = sequences * heads, threads = KernelParallel.MaxThreads;
        fixed (float* pq = qkv) fixed (float* po = output)
        {
            nint src = (nint)pq, dst = (nint)po;
            if (pairs >= 4 * threads || tiles == 1)
            {
                // Many short sequences (windows): one task per (sequence, head) packs its keys and values
                // into its thread's buffer and runs all its query tiles.
                KernelParallel.For(pairs, threads, t =>
                {
                    int s = t / heads, h = t % heads;
                    int valid = validCopy?[s] ?? n;
                    if (valid == 0) return;
                    float* k = (t_packed ??= new AlignedBuffer()).Get(perHead);
                    float* rows = (float*)src + (nint)s * n * ld;
                    Pack(rows, ld, kOff + h * hd, vOff + h * hd, n, hd, hdPad, k, k + kFloats);
                    // The pair a thread most likely takes next (items alternate over the threads) is pulled
                    // towards L2 a slice per query tile: a window's rows lie a whole qkv row apart, so its
                    // q/k/v columns and output rows would otherwise arrive as cache misses on the critical path.
                    int ahead = t + threads, aheadS = ahead / heads, aheadH = ahead % heads;
                    int slice = (n + tiles - 1) / tiles;
                    for (int q0 = 0, tile = 0; q0 < valid; q0 += QueryTile, tile++)
                    {
                        if (ahead < pairs)
                            PrefetchRows((float*)src + (nint)aheadS * n * ld, ld, qOff + aheadH * hd, kOff + aheadH * hd, vOff + aheadH * hd, hd,
                                (float*)dst + (nint)aheadS * n * ldo + aheadH * hd, ldo, tile * slice, Math.Min(n, (tile + 1) * slice));
                        QueryTileAttention(rows, ld, qOff + h * hd, q0, Math.Min(QueryTile, n - q0), n, hd, hdPad, scale,
                            k, k + kFloats, (float*)dst + (nint)s * n * ldo + h * hd, ldo, relPos);
                    }
                });
            }
            else
            {
                // Few long sequences (global blocks): pack every head once, then spread the query tiles.
                float[] packed = ArrayPool<float>.Shared.Rent(checked((int)(perHead * pairs)));
                try
                {
                    fixed (float* pp = packed)
                    {
                        nint pk = (nint)pp;
                        KernelParallel.For(pairs, threads, t =>
                        {
                            float* k = (float*)pk + t * perHead;
                            Pack((float*)src + (nint)(t / heads) * n * ld, ld, kOff + t % heads * hd, vOff + t % heads * hd, n, hd, hdPad, k, k + kFloats);
                        });
                        KernelParallel.For(pairs * tiles, threads, t =>
                        {
                            int pair = t / tiles, s = pair / heads, h = pair % heads, q0 = t % tiles * QueryTile;
                            if (validCopy is not null && q0 >= validCopy[s]) return;
                            float* k = (float*)pk + pair * perHead;
                            QueryTileAttention((float*)src + (nint)s * n * ld, ld, qOff + h * hd, q0, Math.Min(QueryTile, n - q0), n, hd, hdPad, scale,
                                k, k + kFloats, (float*)dst + (nint)s * n * ldo + h * hd, ldo, relPos);
                        });
                    }
                }
                finally { ArrayPool<float>.Shared.Return(packed); }
            }
        }
        FlopCounter.Add(2L * pairs * n, n, hd);
        // The rel-pos products as the official einsums count them (each query against Height + Width table rows).
        if (relPos is not null) FlopCounter.Add((long)pairs * n, relPos.Height + relPos.Width, hd);
    }

    /// <summary>
    /// The token map <see cref="RunWindows"/> takes for an h x w grid cut into ws x ws windows (window-major, the
    /// official window_partition order): each window token's row in image order, or -1 where the grid is padded.
    /// </summary>
    public static int[] WindowTokenRows(int h, int w, int ws)
    {
        if (h <= 0 || w <= 0 || ws <= 0) throw new ArgumentException("Window grid sizes must be positive.");
        int winRows = (h + ws - 1) / ws, winCols = (w + ws - 1) / ws;
        var rows = new int[winRows * winCols * ws * ws];
        for (int wy = 0, at = 0; wy < winRows; wy++)
            for (int wx = 0; wx < winCols; wx++)
                for (int iy = 0; iy < ws; iy++)
                    for (int ix = 0; ix < ws; ix++, at++)
                    {
                        int y = wy * ws + iy, x = wx * ws + ix;
                        rows[at] = y < h && x < w ? y * w + x : -1;
                    }
        return rows;
    }

    /// <summary>
    /// Windowed attention read from and written to image order: token i of window s is qkv row
    /// <paramref name="tokenRows"/>[s·n + i], or, where that is −1 (a padding token of a padded grid), the
    /// single row <paramref name="padRow"/>; its output goes to output row tokenRows[s·n + i]. Padding tokens
    /// take part as keys (as in the official padded windows) but not as queries: only the real tokens'
    /// queries are packed into query tiles. Each real output row gets the values <see cref="Run(ReadOnlySpan{float}, int, int, int, int, int, int, int, int, float, Span{float}, int, RelPosTables?)"/>
    /// computes on the windows copied out in window order; the copies of qkv into that order and of the
    /// output back are spared (one (window, head) pair's columns are gathered at a time, in cache).
    /// </summary>
    public static void RunWindows(ReadOnlySpan<float> qkv, int ld, int qOff, int kOff, int vOff, ReadOnlySpan<float> padRow,
        ReadOnlySpan<int> tokenRows, int windows, int n, int heads, int hd, float scale, Span<float> output, int ldo, RelPosTables? relPos)
    {
        if (!IsSupported) throw new PlatformNotSupportedException("GlobalAttention needs the 512-bit GEMM kernels.");
        if (windows <= 0 || n <= 0 || heads <= 0 || hd <= 0) throw new ArgumentException("Attention sizes must be positive.");
        int width = heads * hd;
        if (qOff < 0 || kOff < 0 || vOff < 0 || Math.Max(qOff, Math.Max(kOff, vOff)) + width > ld)
            throw new ArgumentException("q/k/v column blocks do not fit the row stride.");
        if (padRow.Length < ld) throw new ArgumentException("The padding row is shorter than a qkv row.", nameof(padRow));
        if (tokenRows.Length != checked(windows * n)) throw new ArgumentException("tokenRows needs one row index per window token.", nameof(tokenRows));
        int maxRow = -1;
        foreach (int r in tokenRows)
        {
            if (r < -1) throw new ArgumentOutOfRangeException(nameof(tokenRows), "A token row index is below −1.");
            maxRow = Math.Max(maxRow, r);
        }
        if (maxRow >= 0)
        {
            Gemm.CheckOperand(qkv, 0, maxRow + 1, ld, ld, "qkv");
            Gemm.CheckOperand(output, 0, maxRow + 1, width, ldo, "output");
        }
        if (relPos is not null && (relPos.Height * relPos.Width != n || relPos.TableH.K != hd || relPos.TableW.K != hd
            || relPos.TableH.N != 2 * relPos.Height - 1 || relPos.TableW.N != 2 * relPos.Width - 1))
            throw new ArgumentException("Relative-position tables do not match the token grid.");
        int[] map = tokenRows.ToArray();

        int keyPanels = (n + KeyPanel - 1) / KeyPanel, hdPad = (hd + ValuePanel - 1) / ValuePanel * ValuePanel;
        long kFloats = (long)keyPanels * KeyPanel * hd, perHead = kFloats + (long)hdPad * n;
        int pairs = windows * heads, threads = KernelParallel.MaxThreads;
        int gld = 3 * hd;
        fixed (float* pq = qkv) fixed (float* pp = padRow) fixed (float* po = output)
        {
            nint src = (nint)pq, pad = (nint)pp, dst = (nint)po;
            KernelParallel.For(pairs, threads, t =>
            {
                int s = t / heads, h = t % heads;
                int[] rowsOf = map;
                // The pair's q, k and v columns side by side [n][3·hd], then its outputs [n][hd].
                float* g = (t_window ??= new AlignedBuffer()).Get((long)n * gld + (long)n * hd);
                float* outRows = g + (nint)n * gld;
                // Padding tokens are keys but never queries: the real tokens' queries are packed densely
                // (the j-th real token's q goes to row j of g, whose own q slot it never needs again), so
                // a right-edge window's 112 real queries take 3.5 tiles instead of 7. Each query lane is
                // computed independently, so its values do not depend on which tile it lands in.
                int* positions = stackalloc int[n];
                int real = 0;
                for (int i = 0; i < n; i++)
                {
                    int r = rowsOf[s * n + i];
                    float* row = r >= 0 ? (float*)src + (nint)r * ld : (float*)pad;
                    float* d = g + (nint)i * gld;
                    if (r >= 0)
                    {
                        new ReadOnlySpan<float>(row + qOff + h * hd, hd).CopyTo(new Span<float>(g + (nint)real * gld, hd));
                        positions[real++] = i;
                    }
                    new ReadOnlySpan<float>(row + kOff + h * hd, hd).CopyTo(new Span<float>(d + hd, hd));
                    new ReadOnlySpan<float>(row + vOff + h * hd, hd).CopyTo(new Span<float>(d + 2 * hd, hd));
                }
                float* k = (t_packed ??= new AlignedBuffer()).Get(perHead);
                Pack(g, gld, hd, 2 * hd, n, hd, hdPad, k, k + kFloats);
                int ahead = t + threads, aheadS = ahead / heads, aheadH = ahead % heads;
                int realTiles = (real + QueryTile - 1) / QueryTile, realSlice = realTiles == 0 ? n : (n + realTiles - 1) / realTiles;
                for (int q0 = 0, tile = 0; q0 < real; q0 += QueryTile, tile++)
                {
                    if (ahead < pairs)
                        PrefetchMapped((float*)src, ld, rowsOf, aheadS * n, qOff + aheadH * hd, kOff + aheadH * hd, vOff + aheadH * hd, hd,
                            (float*)dst + aheadH * hd, ldo, Math.Min(n, tile * realSlice), Math.Min(n, (tile + 1) * realSlice));
                    int count = Math.Min(QueryTile, real - q0);
                    QueryTileAttention(g, gld, 0, q0, count, n, hd, hdPad, scale, k, k + kFloats, outRows, hd, relPos, positions);
                    for (int j = q0; j < q0 + count; j++)
                        new ReadOnlySpan<float>(outRows + (nint)j * hd, hd).CopyTo(new Span<float>((float*)dst + (nint)rowsOf[s * n + positions[j]] * ldo + h * hd, hd));
                }
            });
        }
        FlopCounter.Add(2L * pairs * n, n, hd);
        if (relPos is not null) FlopCounter.Add((long)pairs * n, relPos.Height + relPos.Width, hd);
    }

    /// <summary><see cref="PrefetchRows"/> for mapped tokens [r0, r1) of the window starting at map[first]; padding tokens are skipped.</summary>
    private static void PrefetchMapped(float* qkv, int ld, int[] map, int first, int qCol, int kCol, int vCol, int hd, float* output, int ldo, int r0, int r1)
    {
        for (int i = r0; i < r1; i++)
        {
            int r = map[first + i];
            if (r >= 0) PrefetchRows(qkv + (nint)r * ld, ld, qCol, kCol, vCol, hd, output + (nint)r * ldo, ldo, 0, 1);
        }
    }

    /// <summary>Software prefetch (to L2) of the q, k, v columns and the output columns of rows [r0, r1).</summary>
    private static void PrefetchRows(float* rows, int ld, int qCol, int kCol, int vCol, int hd, float* output, int ldo, int r0, int r1)
    {
        if (!Sse.IsSupported) return;
        for (int r = r0; r < r1; r++)
        {
            float* row = rows + (nint)r * ld, o = output + (nint)r * ldo;
            for (int c = 0; c < hd; c += 16)
            {
                Sse.Prefetch1(row + qCol + c);
                Sse.Prefetch1(row + kCol + c);
                Sse.Prefetch1(row + vCol + c);
                Sse.Prefetch1(o + c);
            }
            Sse.Prefetch1(row + qCol + hd - 1);
            Sse.Prefetch1(row + kCol + hd - 1);
            Sse.Prefetch1(row + vCol + hd - 1);
            Sse.Prefetch1(o + hd - 1);
        }
    }

    /// <summary>Keys as 12-key A panels [hd][12]; values transposed as 8-dim A panels [n][8].</summary>
    private static void Pack(float* rows, int ld, int kCol, int vCol, int n, int hd, int hdPad, float* keysDst, float* valuesDst)
    {
        var keys = new MatrixRef(rows + kCol, ld, false);
        for (int p = 0, panels = (n + KeyPanel - 1) / KeyPanel; p < panels; p++)
            GemmPacking.PackAPanel(keys, p * KeyPanel, Math.Min(KeyPanel, n - p * KeyPanel), 0, hd, KeyPanel, keysDst + (nint)p * KeyPanel * hd);
        var valuesT = new MatrixRef(rows + vCol, ld, true);
        for (int p = 0; p < hdPad / ValuePanel; p++)
            GemmPacking.PackAPanel(valuesT, p * ValuePanel, Math.Min(ValuePanel, hd - p * ValuePanel), 0, n, ValuePanel, valuesDst + (nint)p * ValuePanel * n);
    }

    private static void QueryTileAttention(float* qkv, int ld, int qCol, int q0, int rows, int n, int hd, int hdPad, float scale,
        float* keys, float* valuesT, float* output, int ldo, RelPosTables? relPos, int* positions = null)
    {
        int keyPanels = (n + KeyPanel - 1) / KeyPanel;
        int relFloats = relPos is null ? 0 : (relPos.Height + relPos.Width + RelPanels(relPos.TableH.N) + RelPanels(relPos.TableW.N)) * QueryTile;
        long need = (long)QueryTile * hd + (long)keyPanels * KeyPanel * QueryTile + hdPad * QueryTile + QueryTile + relFloats;
        float* qPanel = (t_scratch ??= new AlignedBuffer()).Get(need);
        float* scores = qPanel + QueryTile * hd;                 // Sᵀ: [keys][32], 64-byte aligned rows
        float* outT = scores + (nint)keyPanels * KeyPanel * QueryTile; // Oᵀ: [hdPad][32]
        float* inverse = outT + hdPad * QueryTile;
        float* relTerms = inverse + QueryTile;

        GemmPacking.PackBPanel(new MatrixRef(qkv + (nint)q0 * ld + qCol, ld, true), 0, rows, 0, hd, QueryTile, qPanel);
        // A tile of at most 16 queries (a window's tail) computes only the first 16 lanes; a full tile adds
        // the rel-pos terms and takes the column maxima as its scores leave the registers.
        bool half = rows <= QueryTile / 2;
        if (relPos is not null) RelPosTerms(qPanel, hd, q0, rows, relPos, relTerms, half, positions);
        // The rel-pos products take the unscaled queries; the scores take them scaled ((q·scale)·kᵀ, the
        // official SAM order), so the score kernels need no multiply per score.
        ScalePanel(qPanel, hd, scale);
        if (half)
        {
            for (int p = 0; p < keyPanels; p++)
                AttentionHalfTile.Scores12x16(hd, keys + (nint)p * KeyPanel * hd, qPanel, scores + (nint)p * KeyPanel * QueryTile);
            SoftmaxColumns(scores, n, relPos, relTerms, inverse, half: true);
        }
        else
        {
            var max0 = Vector512.Create(float.NegativeInfinity);
            var max1 = max0;
            float* hTerms = relPos is null ? null : relTerms, wTerms = relPos is null ? null : relTerms + relPos.Height * QueryTile;
            int qw = relPos?.Width ?? 1;
            for (int p = 0; p < keyPanels; p++)
                AttentionScoreKernel.Scores12x32(hd, keys + (nint)p * KeyPanel * hd, qPanel, scores + (nint)p * KeyPanel * QueryTile,
                    Math.Min(KeyPanel, n - p * KeyPanel), p * KeyPanel, qw, hTerms, wTerms, ref max0, ref max1);
            ExpColumns(scores, n, max0, max1, inverse);
        }

        for (int p = 0; p < hdPad / ValuePanel; p++)
        {
            if (half) AttentionHalfTile.Values8x16(n, valuesT + (nint)p * ValuePanel * n, scores, outT + p * ValuePanel * QueryTile);
            else Kernel8x32(n, valuesT + (nint)p * ValuePanel * n, scores, outT + p * ValuePanel * QueryTile);
        }
        StoreRows(outT, inverse, rows, hd, output + (nint)q0 * ldo, ldo);
    }

    /// <summary>
    /// Output rows i &lt; rows: o_i[d] = Oᵀ[d][i] / Σ_i. Whole 8-dim runs are gathered down a column of Oᵀ
    /// (one gather instead of eight scalar loads); the rest of a head is copied one value at a time.
    /// </summary>
    private static void StoreRows(float* outT, float* inverse, int rows, int hd, float* output, int ldo)
    {
        var index = Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7) * QueryTile;
        int whole = Avx2.IsSupported ? hd / 8 * 8 : 0;
        for (int i = 0; i < rows; i++)
        {
            float* o = output + (nint)i * ldo;
            float inv = inverse[i];
            var vinv = Vector256.Create(inv);
            for (int d = 0; d < whole; d += 8)
                (Avx2.GatherVector256(outT + d * QueryTile + i, index, 4) * vinv).Store(o + d);
            for (int d = whole; d < hd; d++) o[d] = outT[d * QueryTile + i] * inv;
        }
    }

    /// <summary>The packed query panel [hd][32] times the softmax scale, in place.</summary>
    private static void ScalePanel(float* qPanel, int hd, float scale)
    {
        var vs = Vector512.Create(scale);
        for (int i = 0; i < hd * QueryTile; i += 16)
            (Vector512.LoadAligned(qPanel + i) * vs).StoreAligned(qPanel + i);
    }

    /// <summary>Rows of a table rounded up to whole 12-row panels.</summary>
    private static int RelPanels(int tableRows) => (tableRows + KeyPanel - 1) / KeyPanel * KeyPanel;

    /// <summary>
    /// Per query of the tile, q·Rh and q·Rw laid out so the softmax pass reads vectors across queries:
    /// H[ky][i] = q_i·Rh[qy_i − ky + Height − 1] and W[kx][i] = q_i·Rw[qx_i − kx + Width − 1].
    /// The products R·Qᵀ run on the packed query tile (zero past <paramref name="rows"/>) with the 12x32
    /// kernel, in the same order of terms as a q·Rᵀ product; the terms are then picked per query.
    /// </summary>
    private static void RelPosTerms(float* qPanel, int hd, int q0, int rows, RelPosTables rel, float* terms, bool half, int* positions)
    {
        int qh = rel.Height, qw = rel.Width;
        float* hTerms = terms, wTerms = terms + qh * QueryTile;
        float* dhT = wTerms + qw * QueryTile, dwT = dhT + (nint)RelPanels(rel.TableH.N) * QueryTile;
        // Only the table rows some query of the tile picks: [min coordinate, max coordinate + size − 1].
        int yMin, yMax, xMin, xMax;
        if (positions is null)
        {
            int last = q0 + rows - 1;
            yMin = q0 / qw; yMax = last / qw;
            xMin = yMin == yMax ? q0 % qw : 0; xMax = yMin == yMax ? last % qw : qw - 1;
        }
        else
        {
            // Packed real queries: positions ascend, so the rows come from the ends; the columns need a scan.
            yMin = positions[q0] / qw; yMax = positions[q0 + rows - 1] / qw;
            xMin = qw - 1; xMax = 0;
            for (int i = q0; i < q0 + rows; i++)
            {
                int x = positions[i] % qw;
                xMin = Math.Min(xMin, x); xMax = Math.Max(xMax, x);
            }
        }
        fixed (float* ah = rel.PanelsH) fixed (float* aw = rel.PanelsW)
        {
            TableRows(ah, hd, qPanel, dhT, yMin, yMax + qh - 1, half);
            TableRows(aw, hd, qPanel, dwT, xMin, xMax + qw - 1, half);
        }
        for (int i = 0; i < (half ? QueryTile / 2 : QueryTile); i++)
        {
            if (i >= rows)
            {
                for (int ky = 0; ky < qh; ky++) hTerms[ky * QueryTile + i] = 0f;
                for (int kx = 0; kx < qw; kx++) wTerms[kx * QueryTile + i] = 0f;
                continue;
            }
            int at = positions is null ? q0 + i : positions[q0 + i];
            int qy = at / qw, qx = at % qw;
            float* h = dhT + (nint)(qy + qh - 1) * QueryTile + i, w = dwT + (nint)(qx + qw - 1) * QueryTile + i;
            for (int ky = 0; ky < qh; ky++) hTerms[ky * QueryTile + i] = h[-ky * QueryTile];
            for (int kx = 0; kx < qw; kx++) wTerms[kx * QueryTile + i] = w[-kx * QueryTile];
        }
    }

    /// <summary>
    /// Table rows [lo, hi] (at least) of R·Qᵀ into <paramref name="dst"/> [rows][32]: whole 12-row panels
    /// where most of a panel is needed, 4-row pieces of a panel elsewhere (panels are zero-padded, and
    /// dst holds whole panels, so a piece may run past hi).
    /// </summary>
    private static void TableRows(float* panels, int hd, float* qPanel, float* dst, int lo, int hi, bool half)
    {
        for (int p = lo / 4 * 4; p <= hi;)
        {
            float* a = panels + (nint)(p / KeyPanel * KeyPanel) * hd + p % KeyPanel;
            if (p % KeyPanel == 0 && hi - p >= 8)
            {
                if (half) AttentionHalfTile.Scores12x16(hd, a, qPanel, dst + (nint)p * QueryTile);
                else GemmMicroKernels.Kernel12x32(hd, a, qPanel, dst + (nint)p * QueryTile, QueryTile, 1f, false, null, null);
                p += KeyPanel;
            }
            else
            {
                if (half) AttentionRelPosRows.Rows4x16(hd, a, qPanel, dst + (nint)p * QueryTile);
                else AttentionRelPosRows.Rows4x32(hd, a, qPanel, dst + (nint)p * QueryTile);
                p += 4;
            }
        }
    }

    /// <summary>Column softmax of Sᵀ [n][32] (first 16 lanes when <paramref name="half"/>) in place, unnormalised (exp(s − max)); writes 1/Σ per query.</summary>
    private static void SoftmaxColumns(float* s, int n, RelPosTables? rel, float* relTerms, float* inverse, bool half)
    {
        var max0 = Vector512.Create(float.NegativeInfinity);
        var max1 = max0;
        if (rel is null)
        {
            for (int r = 0; r < n; r++)
            {
                max0 = Vector512.Max(max0, Vector512.LoadAligned(s + r * QueryTile));
                if (!half) max1 = Vector512.Max(max1, Vector512.LoadAligned(s + r * QueryTile + 16));
            }
        }
        else
        {
            int qw = rel.Width;
            float* wTerms = relTerms + rel.Height * QueryTile;
            for (int ky = 0, r = 0; ky < rel.Height; ky++)
            {
                var h0 = Vector512.Load(relTerms + ky * QueryTile);
                var h1 = Vector512.Load(relTerms + ky * QueryTile + 16);
                for (int kx = 0; kx < qw; kx++, r++)
                {
                    float* row = s + r * QueryTile;
                    var v0 = Vector512.LoadAligned(row) + h0 + Vector512.Load(wTerms + kx * QueryTile);
                    v0.StoreAligned(row);
                    max0 = Vector512.Max(max0, v0);
                    if (half) continue;
                    var v1 = Vector512.LoadAligned(row + 16) + h1 + Vector512.Load(wTerms + kx * QueryTile + 16);
                    v1.StoreAligned(row + 16);
                    max1 = Vector512.Max(max1, v1);
                }
            }
        }
        var sum0 = Vector512<float>.Zero;
        var sum1 = Vector512<float>.Zero;
        var l2e = Vector512.Create(VectorMath.Log2EFloat);
        var shift0 = -(max0 * l2e);
        var shift1 = -(max1 * l2e);
        for (int r = 0; r < n; r++)
        {
            float* row = s + r * QueryTile;
            var e0 = VectorMath.Exp2Softmax(Vector512.FusedMultiplyAdd(Vector512.LoadAligned(row), l2e, shift0));
            e0.StoreAligned(row);
            sum0 += e0;
            if (half) continue;
            var e1 = VectorMath.Exp2Softmax(Vector512.FusedMultiplyAdd(Vector512.LoadAligned(row + 16), l2e, shift1));
            e1.StoreAligned(row + 16);
            sum1 += e1;
        }
        (Vector512<float>.One / sum0).Store(inverse);
        if (!half) (Vector512<float>.One / sum1).Store(inverse + 16);
    }

    /// <summary>The exp pass of a full tile's column softmax, given the column maxima: Sᵀ ← exp(Sᵀ − max), 1/Σ per query.</summary>
    private static void ExpColumns(float* s, int n, Vector512<float> max0, Vector512<float> max1, float* inverse)
    {
        var sum0 = Vector512<float>.Zero;
        var sum1 = Vector512<float>.Zero;
        // exp(s − max) = 2^(log2e·s − log2e·max): one FMA per score, and the rounding of log2e·max is
        // common to the whole column (it cancels in the normalisation).
        var l2e = Vector512.Create(VectorMath.Log2EFloat);
        var shift0 = -(max0 * l2e);
        var shift1 = -(max1 * l2e);
        for (int r = 0; r < n; r++)
        {
            float* row = s + r * QueryTile;
            var e0 = VectorMath.Exp2Softmax(Vector512.FusedMultiplyAdd(Vector512.LoadAligned(row), l2e, shift0));
            var e1 = VectorMath.Exp2Softmax(Vector512.FusedMultiplyAdd(Vector512.LoadAligned(row + 16), l2e, shift1));
            e0.StoreAligned(row);
            e1.StoreAligned(row + 16);
            sum0 += e0;
            sum1 += e1;
        }
        (Vector512<float>.One / sum0).Store(inverse);
        (Vector512<float>.One / sum1).Store(inverse + 16);
    }

    /// <summary>
    /// Oᵀ tile [8][32] = A·B over kc: A an 8-row panel [kc][8], B a 32-column panel [kc][32]; 16
    /// accumulators, B rows loaded once per k, A broadcast (the 12x32 kernel's pattern, 8 rows tall
    /// so a 64-wide head needs no padded rows).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Kernel8x32(nint kc, float* a, float* b, float* c)
    {
        var c0_0 = Vector512<float>.Zero; var c0_1 = Vector512<float>.Zero;
        var c1_0 = Vector512<float>.Zero; var c1_1 = Vector512<float>.Zero;
        var c2_0 = Vector512<float>.Zero; var c2_1 = Vector512<float>.Zero;
        var c3_0 = Vector512<float>.Zero; var c3_1 = Vector512<float>.Zero;
        var c4_0 = Vector512<float>.Zero; var c4_1 = Vector512<float>.Zero;
        var c5_0 = Vector512<float>.Zero; var c5_1 = Vector512<float>.Zero;
        var c6_0 = Vector512<float>.Zero; var c6_1 = Vector512<float>.Zero;
        var c7_0 = Vector512<float>.Zero; var c7_1 = Vector512<float>.Zero;
        for (nint p = 0; p < kc; p++)
        {
            var b0 = Vector512.Load(b + 0);
            var b1 = Vector512.Load(b + 16);
            var a0 = Vector512.Create(a[0]);
            c0_0 = Vector512.FusedMultiplyAdd(a0, b0, c0_0);
            c0_1 = Vector512.FusedMultiplyAdd(a0, b1, c0_1);
            var a1 = Vector512.Create(a[1]);
            c1_0 = Vector512.FusedMultiplyAdd(a1, b0, c1_0);
            c1_1 = Vector512.FusedMultiplyAdd(a1, b1, c1_1);
            var a2 = Vector512.Create(a[2]);
            c2_0 = Vector512.FusedMultiplyAdd(a2, b0, c2_0);
            c2_1 = Vector512.FusedMultiplyAdd(a2, b1, c2_1);
            var a3 = Vector512.Create(a[3]);
            c3_0 = Vector512.FusedMultiplyAdd(a3, b0, c3_0);
            c3_1 = Vector512.FusedMultiplyAdd(a3, b1, c3_1);
            var a4 = Vector512.Create(a[4]);
            c4_0 = Vector512.FusedMultiplyAdd(a4, b0, c4_0);
            c4_1 = Vector512.FusedMultiplyAdd(a4, b1, c4_1);
            var a5 = Vector512.Create(a[5]);
            c5_0 = Vector512.FusedMultiplyAdd(a5, b0, c5_0);
            c5_1 = Vector512.FusedMultiplyAdd(a5, b1, c5_1);
            var a6 = Vector512.Create(a[6]);
            c6_0 = Vector512.FusedMultiplyAdd(a6, b0, c6_0);
            c6_1 = Vector512.FusedMultiplyAdd(a6, b1, c6_1);
            var a7 = Vector512.Create(a[7]);
            c7_0 = Vector512.FusedMultiplyAdd(a7, b0, c7_0);
            c7_1 = Vector512.FusedMultiplyAdd(a7, b1, c7_1);
            a += 8;
            b += 32;
        }
        c0_0.Store(c + 0 * 32); c0_1.Store(c + 0 * 32 + 16);
        c1_0.Store(c + 1 * 32); c1_1.Store(c + 1 * 32 + 16);
        c2_0.Store(c + 2 * 32); c2_1.Store(c + 2 * 32 + 16);
        c3_0.Store(c + 3 * 32); c3_1.Store(c + 3 * 32 + 16);
        c4_0.Store(c + 4 * 32); c4_1.Store(c + 4 * 32 + 16);
        c5_0.Store(c + 5 * 32); c5_1.Store(c + 5 * 32 + 16);
        c6_0.Store(c + 6 * 32); c6_1.Store(c + 6 * 32 + 16);
        c7_0.Store(c + 7 * 32); c7_1.Store(c + 7 * 32 + 16);
    }
}
