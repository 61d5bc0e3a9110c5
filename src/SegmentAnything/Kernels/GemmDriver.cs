namespace SegmentAnything.Kernels;

/// <summary>
/// Blocked SGEMM in the Goto/BLIS arrangement: B is packed per (NC, KC) block, A per KC slice into MR
/// panels, and the C block is cut into tiles (MC rows x a few NR panels) that workers take from a shared
/// counter. Inside a tile a B micro-panel stays in L1 while the A panels of the tile stream from L2.
/// </summary>
/// <summary>Element-wise work fused onto a product's result (see <see cref="GemmDriver.WithEpilogue"/>).</summary>
internal enum GemmEpilogue
{
    None,
    /// <summary>C = gelu(C), exact erf.</summary>
    Gelu,
    /// <summary>R += C for a residual R of the same shape (C is still written).</summary>
    AddInto,
}

internal sealed unsafe class GemmDriver
{
    internal const int KcTarget = 256;
    internal const int Nc = 4096;
    /// <summary>Below this many multiply-adds the thread hand-off costs more than it saves.</summary>
    internal const long ParallelThreshold = 1 << 22;

    // Set by Init: a driver from ForSerialRun is reused by its thread for every serial product.
    private GemmIsa _isa;
    private int _mr, _nr, _mc;
    private int _m, _n, _k;
    private MatrixRef _a, _b;
    private float* _prepackedB;
    private float* _c;
    private nint _ldc;
    private float _alpha;
    private bool _accumulate;
    private float* _rowBias, _colBias;
    private delegate*<nint, float*, float*, float*, nint, float, bool, float*, float*, void> _kernel;

    private GemmEpilogue _epilogue;
    private float* _residual;
    private nint _ldr;

    /// <summary>
    /// An element-wise step applied to each finished block of C while it is still in cache (prepacked B only;
    /// <see cref="Run"/> applies it as a separate pass otherwise).
    /// </summary>
    public GemmDriver WithEpilogue(GemmEpilogue epilogue, float* residual = null, nint ldr = 0)
    {
        if (epilogue == GemmEpilogue.AddInto && residual == null) throw new ArgumentNullException(nameof(residual));
        _epilogue = epilogue;
        _residual = residual;
        _ldr = ldr;
        return this;
    }

    // State of the (jc, pc) block being computed.
    private int _jc, _nc, _pc, _kc, _aPanels, _bPanels, _rowBlocks, _colTiles, _panelsPerTile;
    private float* _aPack, _bPack;
    private bool _load;

    public GemmDriver(GemmIsa isa, int m, int n, int k, MatrixRef a, MatrixRef b, float* prepackedB,
        float* c, nint ldc, float alpha, bool accumulate, float* rowBias, float* colBias) =>
        Init(isa, m, n, k, a, b, prepackedB, c, ldc, alpha, accumulate, rowBias, colBias);

    private GemmDriver() { }

    [ThreadStatic] private static GemmDriver? t_serial;

    /// <summary>
    /// This thread's reusable driver for a product it runs alone (call <see cref="Run"/> with one thread and nothing
    /// else on this thread in between): many small products (TinyViT's window heads without the fused kernel)
    /// then allocate nothing. Safe because a single-threaded run calls no other product.
    /// </summary>
    public static GemmDriver ForSerialRun(GemmIsa isa, int m, int n, int k, MatrixRef a, MatrixRef b,
        float* c, nint ldc, float alpha, bool accumulate, float* rowBias, float* colBias)
    {
        var d = t_serial ??= new GemmDriver();
        d.Init(isa, m, n, k, a, b, null, c, ldc, alpha, accumulate, rowBias, colBias);
        return d;
    }

    private void Init(GemmIsa isa, int m, int n, int k, MatrixRef a, MatrixRef b, float* prepackedB,
        float* c, nint ldc, float alpha, bool accumulate, float* rowBias, float* colBias)
    {
        _epilogue = GemmEpilogue.None;
        _residual = null;
        _ldr = 0;
        _isa = isa;
        _mr = GemmIsaInfo.Mr(isa);
        _nr = GemmIsaInfo.Nr(isa);
        _mc = _mr * 12;
        (_m, _n, _k, _a, _b, _ldc, _alpha, _accumulate) = (m, n, k, a, b, ldc, alpha, accumulate);
        FlopCounter.Add(m, n, k);
        _prepackedB = prepackedB;
        _c = c;
        _rowBias = rowBias;
        _colBias = colBias;
        _kernel = isa switch
        {
            GemmIsa.Vector512 => &GemmMicroKernels.Kernel12x32,
            GemmIsa.Vector256 => &GemmMicroKernels.Kernel6x16,
            _ => &GemmMicroKernels.Kernel4x8,
        };
    }

    /// <summary>Depth of each KC block: k split into equal blocks of at most <see cref="KcTarget"/>.</summary>
    internal static int KcBlock(int k)
    {
        int blocks = (k + KcTarget - 1) / KcTarget;
        return (k + blocks - 1) / blocks;
    }

    public void Run(int threads)
    {
        if ((long)_m * _n * _k < ParallelThreshold) threads = 1;
        if (_prepackedB != null)
        {
            RunPrepacked(threads);
            return;
        }
        int kcBlock = KcBlock(_k);
        int mPad = (_m + _mr - 1) / _mr * _mr;
        _aPack = AlignedBuffer.PackA.Get((long)mPad * kcBlock);
        if (_prepackedB == null)
            _bPack = AlignedBuffer.PackB.Get((long)kcBlock * ((Math.Min(_n, Nc) + _nr - 1) / _nr * _nr));
        int nPadTotal = (_n + _nr - 1) / _nr * _nr;

        for (_jc = 0; _jc < _n; _jc += Nc)
        {
            _nc = Math.Min(Nc, _n - _jc);
            _bPanels = (_nc + _nr - 1) / _nr;
            for (_pc = 0; _pc < _k; _pc += kcBlock)
            {
                _kc = Math.Min(kcBlock, _k - _pc);
                _aPanels = (_m + _mr - 1) / _mr;
                if (_prepackedB != null) _bPack = _prepackedB + (nint)_pc * nPadTotal + (nint)(_jc / _nr) * _kc * _nr;
                _load = _accumulate || _pc > 0;
                int packItems = _aPanels + (_prepackedB == null ? _bPanels : 0);
                if (threads == 1) for (int i = 0; i < packItems; i++) PackItem(i);
                else KernelParallel.For(packItems, threads, PackItem);

                _rowBlocks = (_m + _mc - 1) / _mc;
                // Enough tiles for every thread to get several, but keep tiles wide for B-panel reuse.
                int wanted = threads == 1 ? 1 : 4 * threads;
                _panelsPerTile = Math.Clamp(_bPanels * _rowBlocks / wanted, 1, 8);
                _colTiles = (_bPanels + _panelsPerTile - 1) / _panelsPerTile;
                int tiles = _rowBlocks * _colTiles;
                if (threads == 1) for (int t = 0; t < tiles; t++) Tile(t);
                else KernelParallel.For(tiles, threads, Tile);
            }
        }
        if (_epilogue != GemmEpilogue.None) ApplyEpilogue(0, _m, 0, _n);
    }

    private void ApplyEpilogue(int i0, int i1, int j0, int j1)
    {
        for (int i = i0; i < i1; i++)
        {
            float* c = _c + (nint)i * _ldc + j0;
            if (_epilogue == GemmEpilogue.Gelu) Activations.GeluSerial(c, j1 - j0);
            else Elementwise.AddSerial(_residual + (nint)i * _ldr + j0, c, j1 - j0);
        }
    }

    /// <summary>Widest column chunk run through all of k at once: its C block (MC rows) stays in L2 across the KC blocks.</summary>
    private const int MaxPanelsPerChunk = 24;

    // Prepacked-B work split, set by RunPrepacked.
    private int _itemColSplits, _itemPanels, _kcBlock, _nPadTotal;

    /// <summary>
    /// B already packed (weights): each work item is an MC-row block (times a column range only when there
    /// are too few row blocks to share), run by one thread through every KC block, so the whole product
    /// needs a single hand-off. The item packs its A rows once for all of k and sweeps its columns in
    /// chunks whose C block stays in L2 while k advances.
    /// </summary>
    private void RunPrepacked(int threads)
    {
        _kcBlock = KcBlock(_k);
        int panels = (_n + _nr - 1) / _nr;
        _nPadTotal = panels * _nr;
        int rowBlocks = (_m + _mc - 1) / _mc;
        int splits = threads == 1 || rowBlocks >= 8 * threads ? 1 : Math.Min(panels, (8 * threads + rowBlocks - 1) / rowBlocks);
        _itemPanels = (panels + splits - 1) / splits;
        _itemColSplits = (panels + _itemPanels - 1) / _itemPanels;
        int items = rowBlocks * _itemColSplits;
        if (threads == 1) for (int t = 0; t < items; t++) PrepackedItem(t);
        else KernelParallel.For(items, threads, PrepackedItem);
    }

    private void PrepackedItem(int t)
    {
        int rb = t / _itemColSplits, cs = t % _itemColSplits;
        int i0 = rb * _mc, rows = Math.Min(_mc, _m - i0), aPanels = (rows + _mr - 1) / _mr;
        int panels = (_n + _nr - 1) / _nr;
        int first = cs * _itemPanels, last = Math.Min(panels, first + _itemPanels);
        int mr = _mr, nr = _nr;
        // A rows packed once for all of k: KC block pc starts at aPanels·MR·pc.
        float* aAll = AlignedBuffer.PackA.Get((long)aPanels * mr * _k);
        float* tmp = stackalloc float[GemmMicroKernels.Mr512 * GemmMicroKernels.Nr512];
        for (int jp0 = first; jp0 < last; jp0 += MaxPanelsPerChunk)
        {
            int jp1 = Math.Min(last, jp0 + MaxPanelsPerChunk);
            for (int pc = 0; pc < _k; pc += _kcBlock)
            {
                int kc = Math.Min(_kcBlock, _k - pc);
                float* aPack = aAll + (nint)aPanels * mr * pc;
                // A panels are packed just before their first use while the next panel's source rows are
                // prefetched: with large m, A comes from memory and a pack-all burst would stall on it.
                bool pack = jp0 == first;
                if (pack && pc == 0) PrefetchA(i0, Math.Min(mr, rows), 0, kc);
                bool load = _accumulate || pc > 0;
                float* bBlock = _prepackedB + (nint)pc * _nPadTotal;
                for (int jp = jp0; jp < jp1; jp++)
                {
                    int j = jp * nr, nrEff = Math.Min(nr, _n - j);
                    float* bp = bBlock + (nint)jp * kc * nr;
                    float* colBias = _colBias == null ? null : _colBias + j;
                    for (int ip = 0; ip < aPanels; ip++)
                    {
                        int i = i0 + ip * mr, mrEff = Math.Min(mr, _m - i);
                        float* c = _c + (nint)i * _ldc + j;
                        float* rowBias = _rowBias == null ? null : _rowBias + i;
                        float* ap = aPack + (nint)ip * kc * mr;
                        if (pack && jp == jp0)
                        {
                            GemmPacking.PackAPanel(_a, i, Math.Min(mr, rows - ip * mr), pc, kc, mr, ap);
                            if (ip + 1 < aPanels) PrefetchA(i + mr, Math.Min(mr, rows - (ip + 1) * mr), pc, kc);
                            else if (pc + kc < _k) PrefetchA(i0, Math.Min(mr, rows), pc + kc, Math.Min(_kcBlock, _k - pc - kc));
                        }
                        if (mrEff == mr && nrEff == nr) _kernel(kc, ap, bp, c, _ldc, _alpha, load, rowBias, colBias);
                        else EdgeTile(kc, ap, bp, c, mrEff, nrEff, load, rowBias, colBias, tmp);
                    }
                }
            }
            if (_epilogue != GemmEpilogue.None) ApplyEpilogue(i0, i0 + rows, jp0 * nr, Math.Min(_n, jp1 * nr));
        }
    }

    /// <summary>Asks for rows [i, i+rows) x depths [p, p+kc) of a row-major A to be brought into L2.</summary>
    private void PrefetchA(int i, int rows, int p, int kc)
    {
        if (_a.Transposed || !System.Runtime.Intrinsics.X86.Sse.IsSupported) return;
        for (int r = 0; r < rows; r++)
        {
            byte* row = (byte*)(_a.Ptr + (nint)(i + r) * _a.Ld + p);
            byte* end = (byte*)((float*)row + kc);
            for (byte* q = row; q < end; q += 64) System.Runtime.Intrinsics.X86.Sse.Prefetch1(q);
            System.Runtime.Intrinsics.X86.Sse.Prefetch1(end - 1);
        }
    }

    /// <summary>A ragged micro-tile: computed whole into a scratch tile, then the valid part stored.</summary>
    private void EdgeTile(int kc, float* ap, float* bp, float* c, int mrEff, int nrEff, bool load, float* rowBias, float* colBias, float* tmp)
    {
        int nr = _nr;
        _kernel(kc, ap, bp, tmp, nr, 1f, false, null, null);
        for (int r = 0; r < mrEff; r++)
        {
            float* cr = c + (nint)r * _ldc;
            float* tr = tmp + r * nr;
            if (load)
                for (int jj = 0; jj < nrEff; jj++) cr[jj] = MathF.FusedMultiplyAdd(tr[jj], _alpha, cr[jj]);
            else
            {
                float rbias = rowBias == null ? 0f : rowBias[r];
                for (int jj = 0; jj < nrEff; jj++)
                    cr[jj] = MathF.FusedMultiplyAdd(tr[jj], _alpha, (colBias == null ? 0f : colBias[jj]) + rbias);
            }
        }
    }

    private void PackItem(int i)
    {
        if (i < _aPanels)
        {
            int i0 = i * _mr;
            GemmPacking.PackAPanel(_a, i0, Math.Min(_mr, _m - i0), _pc, _kc, _mr, _aPack + (nint)i * _kc * _mr);
        }
        else
        {
            int jp = i - _aPanels, j0 = jp * _nr;
            GemmPacking.PackBPanel(_b, _jc + j0, Math.Min(_nr, _nc - j0), _pc, _kc, _nr, _bPack + (nint)jp * _kc * _nr);
        }
    }

    private void Tile(int t)
    {
        int rb = t / _colTiles, ct = t % _colTiles;
        int ip0 = rb * (_mc / _mr), ip1 = Math.Min(_aPanels, ip0 + _mc / _mr);
        int jp0 = ct * _panelsPerTile, jp1 = Math.Min(_bPanels, jp0 + _panelsPerTile);
        int mr = _mr, nr = _nr;
        float* tmp = stackalloc float[GemmMicroKernels.Mr512 * GemmMicroKernels.Nr512];
        for (int jp = jp0; jp < jp1; jp++)
        {
            int j = jp * nr, nrEff = Math.Min(nr, _nc - j);
            float* bp = _bPack + (nint)jp * _kc * nr;
            float* colBias = _colBias == null ? null : _colBias + _jc + j;
            for (int ip = ip0; ip < ip1; ip++)
            {
                int i = ip * mr, mrEff = Math.Min(mr, _m - i);
                float* ap = _aPack + (nint)ip * _kc * mr;
                float* c = _c + (nint)i * _ldc + _jc + j;
                float* rowBias = _rowBias == null ? null : _rowBias + i;
                if (mrEff == mr && nrEff == nr)
                {
                    _kernel(_kc, ap, bp, c, _ldc, _alpha, _load, rowBias, colBias);
                    continue;
                }
                _kernel(_kc, ap, bp, tmp, nr, 1f, false, null, null);
                for (int r = 0; r < mrEff; r++)
                {
                    float* cr = c + (nint)r * _ldc;
                    float* tr = tmp + r * nr;
                    if (_load)
                        for (int jj = 0; jj < nrEff; jj++) cr[jj] = MathF.FusedMultiplyAdd(tr[jj], _alpha, cr[jj]);
                    else
                    {
                        float rbias = rowBias == null ? 0f : rowBias[r];
                        for (int jj = 0; jj < nrEff; jj++)
                            cr[jj] = MathF.FusedMultiplyAdd(tr[jj], _alpha, (colBias == null ? 0f : colBias[jj]) + rbias);
                    }
                }
            }
        }
    }
}
