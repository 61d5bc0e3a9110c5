namespace SegmentAnything.Kernels;

/// <summary>
/// Single-precision matrix products, row-major: C[m,n] = alpha · op(A)[m,k] · op(B)[k,n] (+ C).
/// Operands may be strided views (leading dimensions) and transposed, so attention heads and
/// sub-blocks need no copies. See <see cref="GemmDriver"/> for the blocking.
/// </summary>
public static class Gemm
{
    /// <summary>The micro-kernel family used by default on this machine.</summary>
    public static GemmIsa Isa => GemmIsaInfo.Best;

    /// <summary>Dense C[m,n] (+)= A[m,k] · B[k,n], or · B[n,k]ᵀ when <paramref name="bTransposed"/>.</summary>
    public static void MatMul(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c, int m, int k, int n,
        bool bTransposed = false, bool accumulate = false) =>
        MatMul(m, n, k, a, k, false, b, bTransposed ? k : n, bTransposed, c, n, 1f, accumulate);

    /// <summary>
    /// Strided product. A is [m,k] with row stride <paramref name="lda"/> (or stored [k,m] when
    /// <paramref name="aTransposed"/>); B is [k,n] with row stride <paramref name="ldb"/> (or stored [n,k]);
    /// C is [m,n] with row stride <paramref name="ldc"/>.
    /// </summary>
    public static void MatMul(int m, int n, int k,
        ReadOnlySpan<float> a, int lda, bool aTransposed,
        ReadOnlySpan<float> b, int ldb, bool bTransposed,
        Span<float> c, int ldc, float alpha = 1f, bool accumulate = false) =>
        MatMulCore(GemmIsaInfo.Best, KernelParallel.MaxThreads, m, n, k, a, lda, aTransposed, b, ldb, bTransposed,
            c, ldc, alpha, accumulate, default, default);

    /// <summary>
    /// The strided product on the calling thread only, for callers that already run many small
    /// products in parallel (attention heads and windows).
    /// </summary>
    public static void MatMulSerial(int m, int n, int k,
        ReadOnlySpan<float> a, int lda, bool aTransposed,
        ReadOnlySpan<float> b, int ldb, bool bTransposed,
        Span<float> c, int ldc, float alpha = 1f, bool accumulate = false) =>
        MatMulCore(GemmIsaInfo.Best, 1, m, n, k, a, lda, aTransposed, b, ldb, bTransposed, c, ldc, alpha, accumulate, default, default);

    /// <summary>
    /// <paramref name="batch"/> independent strided products; item t uses A at t·strideA, B at t·strideB,
    /// C at t·strideC (e.g. attention heads: Q·Kᵀ with bTransposed, then P·V).
    /// </summary>
    public static void MatMulBatched(int batch, int m, int n, int k,
        ReadOnlySpan<float> a, int lda, int strideA, bool aTransposed,
        ReadOnlySpan<float> b, int ldb, int strideB, bool bTransposed,
        Span<float> c, int ldc, int strideC, float alpha = 1f, bool accumulate = false)
    {
        if (batch < 0) throw new ArgumentOutOfRangeException(nameof(batch));
        if (batch == 0) return;
        CheckDims(m, n, k);
        if (strideA < 0 || strideB < 0 || strideC < 0) throw new ArgumentException("Negative batch stride.");
        CheckOperand(a, (long)strideA * (batch - 1), aTransposed ? k : m, aTransposed ? m : k, lda, "A");
        CheckOperand(b, (long)strideB * (batch - 1), bTransposed ? n : k, bTransposed ? k : n, ldb, "B");
        CheckOperand(c, (long)strideC * (batch - 1), m, n, ldc, "C");
        if (m == 0 || n == 0) return;
        if (k == 0)
        {
            for (int t = 0; t < batch; t++) FillEmpty(c[(strideC * t)..], m, n, ldc, accumulate, default, default);
            return;
        }
        if (batch == 1)
        {
            for (int t = 0; t < batch; t++) MatMulCore(GemmIsaInfo.Best, KernelParallel.MaxThreads, m, n, k, a[(strideA * t)..], lda, aTransposed,
                b[(strideB * t)..], ldb, bTransposed, c[(strideC * t)..], ldc, alpha, accumulate, default, default);
            return;
        }
        long work = (long)m * n * k;
        int threads = KernelParallel.MaxThreads;
        // Many small products: one thread per product. Few large ones: threads inside each product.
        bool perItem = threads > 1 && work * batch >= GemmDriver.ParallelThreshold
            && (work < 1L << 24 || batch % threads == 0 || batch >= 4 * threads);
        if (!perItem)
        {
            for (int t = 0; t < batch; t++) MatMulCore(GemmIsaInfo.Best, threads, m, n, k, a[(strideA * t)..], lda, aTransposed,
                b[(strideB * t)..], ldb, bTransposed, c[(strideC * t)..], ldc, alpha, accumulate, default, default);
            return;
        }
        unsafe
        {
            fixed (float* pa = a) fixed (float* pb = b) fixed (float* pc = c)
            {
                nint ia = (nint)pa, ib = (nint)pb, ic = (nint)pc;
                KernelParallel.For(batch, threads, t =>
                {
                    var driver = new GemmDriver(GemmIsaInfo.Best, m, n, k,
                        new MatrixRef((float*)ia + (long)t * strideA, lda, aTransposed),
                        new MatrixRef((float*)ib + (long)t * strideB, ldb, bTransposed), null,
                        (float*)ic + (long)t * strideC, ldc, alpha, accumulate, null, null);
                    driver.Run(1);
                });
            }
        }
    }

    /// <summary>Packs B ([k,n], or stored [n,k] when transposed) once for repeated products (weights).</summary>
    public static PackedMatrix PackB(ReadOnlySpan<float> b, int k, int n, int ldb, bool bTransposed) =>
        PackedMatrix.Create(GemmIsaInfo.Best, b, k, n, ldb, bTransposed);

    /// <summary>
    /// Packs new values into <paramref name="target"/>, reusing its storage: B must have the target's shape
    /// ([k,n], or stored [n,k] when transposed). For operands that change per use but serve several products.
    /// </summary>
    public static void RepackB(PackedMatrix target, ReadOnlySpan<float> b, int ldb, bool bTransposed)
    {
        ArgumentNullException.ThrowIfNull(target);
        target.Repack(b, ldb, bTransposed);
    }

    /// <summary>
    /// C[m,n] = alpha · A[m,k] · B + colBias (+ C), B prepacked by <see cref="PackB"/>. The bias (length n,
    /// broadcast over rows) is added once; it is ignored when accumulating.
    /// </summary>
    public static void MatMul(int m, ReadOnlySpan<float> a, int lda, bool aTransposed, PackedMatrix b,
        Span<float> c, int ldc, ReadOnlySpan<float> colBias = default, float alpha = 1f, bool accumulate = false)
    {
        ArgumentNullException.ThrowIfNull(b);
        int n = b.N, k = b.K;
        CheckDims(m, n, k);
        CheckOperand(a, 0, aTransposed ? k : m, aTransposed ? m : k, lda, "A");
        CheckOperand(c, 0, m, n, ldc, "C");
        if (!colBias.IsEmpty && colBias.Length < n) throw new ArgumentException("Column bias shorter than n.");
        if (m == 0 || n == 0) return;
        if (k == 0) { FillEmpty(c, m, n, ldc, accumulate, default, colBias); return; }
        unsafe
        {
            fixed (float* pa = a) fixed (float* pc = c) fixed (float* pbias = colBias)
            {
                new GemmDriver(b.Isa, m, n, k, new MatrixRef(pa, lda, aTransposed), default, b.Pointer, pc, ldc, alpha,
                    accumulate, null, accumulate ? null : pbias).Run(KernelParallel.MaxThreads);
            }
        }
        GC.KeepAlive(b);
    }

    /// <summary>
    /// C[m,n] = A[m,k] · B + colBias with B prepacked, then an element-wise epilogue on each finished block
    /// of C while it is in cache: GELU of C, or residual[i,j] += C[i,j] (row stride <paramref name="ldr"/>).
    /// </summary>
    internal static void MatMul(int m, ReadOnlySpan<float> a, int lda, PackedMatrix b, Span<float> c, int ldc,
        ReadOnlySpan<float> colBias, GemmEpilogue epilogue, Span<float> residual = default, int ldr = 0)
    {
        ArgumentNullException.ThrowIfNull(b);
        int n = b.N, k = b.K;
        CheckDims(m, n, k);
        CheckOperand(a, 0, m, k, lda, "A");
        CheckOperand(c, 0, m, n, ldc, "C");
        if (epilogue == GemmEpilogue.AddInto) CheckOperand(residual, 0, m, n, ldr, "residual");
        if (!colBias.IsEmpty && colBias.Length < n) throw new ArgumentException("Column bias shorter than n.");
        if (m == 0 || n == 0) return;
        if (k == 0) throw new ArgumentException("Epilogue products need k > 0.");
        unsafe
        {
            fixed (float* pa = a) fixed (float* pc = c) fixed (float* pbias = colBias) fixed (float* pr = residual)
            {
                new GemmDriver(b.Isa, m, n, k, new MatrixRef(pa, lda, false), default, b.Pointer, pc, ldc, 1f, false, null, pbias)
                    .WithEpilogue(epilogue, pr, ldr).Run(KernelParallel.MaxThreads);
            }
        }
        GC.KeepAlive(b);
    }

    /// <summary>
    /// C[m,n] = alpha · A[m,k] · B with B prepacked, on the calling thread only: for callers that run
    /// many products in parallel and reuse one packed operand across them (attention keys and values).
    /// </summary>
    internal static void MatMulSerial(int m, ReadOnlySpan<float> a, int lda, PackedMatrix b, Span<float> c, int ldc, float alpha = 1f)
    {
        int n = b.N, k = b.K;
        CheckDims(m, n, k);
        CheckOperand(a, 0, m, k, lda, "A");
        CheckOperand(c, 0, m, n, ldc, "C");
        if (m == 0 || n == 0) return;
        if (k == 0) { FillEmpty(c, m, n, ldc, false, default, default); return; }
        unsafe
        {
            fixed (float* pa = a) fixed (float* pc = c)
            {
                new GemmDriver(b.Isa, m, n, k, new MatrixRef(pa, lda, false), default, b.Pointer, pc, ldc, alpha,
                    false, null, null).Run(1);
            }
        }
        GC.KeepAlive(b);
    }

    /// <summary>
    /// Product with an optional bias per row of C (length m) and per column (length n), added when the
    /// result is stored (not when accumulating): the fused epilogue of Conv2d and Linear.
    /// </summary>
    internal static void MatMulCore(GemmIsa isa, int threads, int m, int n, int k,
        ReadOnlySpan<float> a, int lda, bool aTransposed,
        ReadOnlySpan<float> b, int ldb, bool bTransposed,
        Span<float> c, int ldc, float alpha, bool accumulate,
        ReadOnlySpan<float> rowBias, ReadOnlySpan<float> colBias)
    {
        CheckDims(m, n, k);
        CheckOperand(a, 0, aTransposed ? k : m, aTransposed ? m : k, lda, "A");
        CheckOperand(b, 0, bTransposed ? n : k, bTransposed ? k : n, ldb, "B");
        CheckOperand(c, 0, m, n, ldc, "C");
        if (!rowBias.IsEmpty && rowBias.Length < m) throw new ArgumentException("Row bias shorter than m.");
        if (!colBias.IsEmpty && colBias.Length < n) throw new ArgumentException("Column bias shorter than n.");
        if (!GemmIsaInfo.IsSupported(isa)) throw new PlatformNotSupportedException($"{isa} GEMM kernel not supported here.");
        if (m == 0 || n == 0) return;
        if (k == 0) { FillEmpty(c, m, n, ldc, accumulate, rowBias, colBias); return; }
        unsafe
        {
            fixed (float* pa = a) fixed (float* pb = b) fixed (float* pc = c)
            fixed (float* prb = rowBias) fixed (float* pcb = colBias)
            {
                var ma = new MatrixRef(pa, lda, aTransposed);
                var mb = new MatrixRef(pb, ldb, bTransposed);
                if (threads == 1 || (long)m * n * k < GemmDriver.ParallelThreshold)
                    GemmDriver.ForSerialRun(isa, m, n, k, ma, mb, pc, ldc, alpha, accumulate, accumulate ? null : prb, accumulate ? null : pcb).Run(1);
                else
                    new GemmDriver(isa, m, n, k, ma, mb, null, pc, ldc, alpha, accumulate, accumulate ? null : prb, accumulate ? null : pcb).Run(threads);
            }
        }
    }

    private static void FillEmpty(Span<float> c, int m, int n, int ldc, bool accumulate,
        ReadOnlySpan<float> rowBias, ReadOnlySpan<float> colBias)
    {
        if (accumulate) return;
        for (int i = 0; i < m; i++)
        {
            Span<float> row = c.Slice(i * ldc, n);
            row.Fill(rowBias.IsEmpty ? 0f : rowBias[i]);
            if (!colBias.IsEmpty) for (int j = 0; j < n; j++) row[j] += colBias[j];
        }
    }

    private static void CheckDims(int m, int n, int k)
    {
        if (m < 0 || n < 0 || k < 0) throw new ArgumentException($"Negative GEMM dimension (m={m}, n={n}, k={k}).");
    }

    /// <summary>Checks that a view of rows x cols with row stride ld, starting at offset, fits the span.</summary>
    internal static void CheckOperand(ReadOnlySpan<float> s, long offset, int rows, int cols, int ld, string name)
    {
        if (rows == 0 || cols == 0) return;
        if (ld < cols) throw new ArgumentException($"GEMM operand {name}: leading dimension {ld} < {cols} columns.");
        long need = offset + (long)(rows - 1) * ld + cols;
        if (s.Length < need) throw new ArgumentException($"GEMM operand {name} too small: {s.Length} < {need} floats.");
    }
}
