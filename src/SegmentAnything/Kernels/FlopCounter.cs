namespace SegmentAnything.Kernels;

/// <summary>
/// Counts the floating-point operations of matrix products (2·m·n·k each), so benchmarks can report
/// GFLOP/s for exactly the work a model performed. One interlocked add per product: negligible.
/// </summary>
public static class FlopCounter
{
    private static long _flops;

    public static long Total => Interlocked.Read(ref _flops);

    public static void Add(long m, long n, long k) => Interlocked.Add(ref _flops, 2 * m * n * k);
}
