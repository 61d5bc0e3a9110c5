using System.Diagnostics;

namespace SegmentAnything.Kernels;

/// <summary>One timed kernel shape: best time of several runs and its rate.</summary>
/// <remarks>
/// <see cref="CpuGflopsPerCore"/> divides by the process's CPU time instead of wall time: on a machine
/// shared with other work it stays close to what one core achieves when the run has the machine to itself.
/// </remarks>
public sealed record KernelTiming(string Name, double Gflop, double MinMs, double GflopsPerSecond, double CpuGflopsPerCore);

/// <summary>
/// Times the matrix products and attention calls the models make, at the models' own shapes
/// (m x k x n, weights prepacked as <see cref="Linear"/> holds them), so each can be read against the
/// FMA peak. Inputs are random; the best of several runs is kept, as load from other processes only
/// ever slows a run down.
/// </summary>
public static class KernelBenchmark
{
    /// <summary>Named GEMM shapes (rows m, depth k, outputs n) of ViT-B, EfficientSAM ViT-T, TinyViT and the decoder.</summary>
    public static readonly (string Name, int M, int K, int N)[] GemmShapes =
    [
        ("vit_b.qkv", 4096, 768, 2304),
        ("vit_b.proj", 4096, 768, 768),
        ("vit_b.mlp1", 4096, 768, 3072),
        ("vit_b.mlp2", 4096, 3072, 768),
        ("vit_b.window_qkv", 4900, 768, 2304),
        ("vit_b.neck_3x3", 4096, 2304, 256),
        ("esam_vitt.qkv", 4096, 192, 576),
        ("esam_vitt.proj", 4096, 192, 192),
        ("esam_vitt.mlp1", 4096, 192, 768),
        ("esam_vitt.mlp2", 4096, 768, 192),
        ("tinyvit.s1_qkv", 16384, 128, 384),
        ("tinyvit.s1_mlp2", 16384, 512, 128),
        ("tinyvit.s3_mlp1", 4096, 320, 1280),
        ("tinyvit.s3_mlp2", 4096, 1280, 320),
        ("decoder.image_kv", 4096, 256, 128),
        ("decoder.batch64_mlp1", 448, 256, 2048),
        ("decoder.batch64_mlp2", 448, 2048, 256),
    ];

    /// <summary>Shapes timed with the int8 kernels (the quantised ViT-B encoder's products).</summary>
    public static readonly (string Name, int M, int K, int N)[] Int8Shapes =
    [
        ("vit_b.qkv", 4096, 768, 2304),
        ("vit_b.mlp1", 4096, 768, 3072),
        ("vit_b.mlp2", 4096, 3072, 768),
    ];

    /// <summary>Attention shapes: sequences x tokens, heads, head size, rel-pos grid side (0: none).</summary>
    public static readonly (string Name, int Sequences, int Tokens, int Heads, int HeadDim, int RelSide)[] AttentionShapes =
    [
        ("vit_b.global_attention", 1, 4096, 12, 64, 64),
        ("vit_b.window_attention", 25, 196, 12, 64, 14),
        ("esam_vitt.attention", 1, 4096, 3, 64, 0),
    ];

    /// <param name="filter">Only shapes whose name contains this text (case-insensitive); null for all.</param>
    public static IEnumerable<KernelTiming> Run(int runs = 3, string? filter = null)
    {
        var rng = new Random(1);
        bool Wanted(string name) => filter is null || name.Contains(filter, StringComparison.OrdinalIgnoreCase);
        foreach (var (name, m, k, n) in GemmShapes)
        {
            if (!Wanted($"gemm.{name}")) continue;
            float[] a = Random(rng, m * k), w = Random(rng, k * n), c = new float[m * n];
            var packed = Gemm.PackB(w, k, n, k, bTransposed: true);
            yield return Time($"gemm.{name}_{m}x{k}x{n}", 2.0 * m * n * k, runs, () => Gemm.MatMul(m, a, k, false, packed, c, n));
        }
        // The int8 rows count a multiply-add as two operations like the float rows, so "GFLOP/s" reads as
        // GOP/s against the float FMA peak: dynamic W8A8 as the int8 encoders run it (activation quantisation included).
        foreach (var (name, m, k, n) in Int8Shapes)
        {
            if (!Wanted($"int8.{name}")) continue;
            float[] a = Random(rng, m * k), c = new float[m * n];
            var (values, scales) = Int8Quantize.Weights(Random(rng, k * n), n, k);
            var weight = new Int8Matrix(values, scales, n, k);
            yield return Time($"int8.{name}_{m}x{k}x{n}", 2.0 * m * n * k, runs, () => Int8Gemm.MatMul(a, k, m, weight, c, n));
        }
        if (!GlobalAttention.IsSupported) yield break;
        foreach (var (name, seqs, tokens, heads, hd, side) in AttentionShapes)
        {
            if (!Wanted($"attention.{name}")) continue;
            int width = heads * hd, rows = seqs * tokens;
            float[] qkv = Random(rng, rows * 3 * width), output = new float[rows * width];
            RelPosTables? rel = side == 0 ? null : new RelPosTables(side, side,
                Gemm.PackB(Random(rng, (2 * side - 1) * hd), hd, 2 * side - 1, hd, true),
                Gemm.PackB(Random(rng, (2 * side - 1) * hd), hd, 2 * side - 1, hd, true));
            float scale = 1f / MathF.Sqrt(hd);
            yield return Time($"attention.{name}", 4.0 * seqs * heads * tokens * tokens * hd, runs,
                () => GlobalAttention.Run(qkv, 3 * width, 0, width, 2 * width, seqs, tokens, heads, hd, scale, output, width, rel));
        }
        if (Wanted("attention.vit_b.padded_windows")) yield return PaddedWindows(rng, runs);
    }

    /// <summary>
    /// ViT-B's windowed blocks as the encoder runs them: the 64x64 grid in image order padded to 5x5 windows
    /// of 14x14 (<see cref="GlobalAttention.RunWindows"/>). The FLOPs are the official padded computation's
    /// (every window token a query), so the rate reads against the vit_b.window_attention row.
    /// </summary>
    private static KernelTiming PaddedWindows(Random rng, int runs)
    {
        const int grid = 64, ws = 14, heads = 12, hd = 64, width = heads * hd, ld = 3 * width;
        int winSide = (grid + ws - 1) / ws, windows = winSide * winSide, tokens = ws * ws;
        float[] qkv = Random(rng, grid * grid * ld), pad = Random(rng, ld), output = new float[grid * grid * width];
        int[] map = GlobalAttention.WindowTokenRows(grid, grid, ws);
        var rel = new RelPosTables(ws, ws,
            Gemm.PackB(Random(rng, (2 * ws - 1) * hd), hd, 2 * ws - 1, hd, true),
            Gemm.PackB(Random(rng, (2 * ws - 1) * hd), hd, 2 * ws - 1, hd, true));
        float scale = 1f / MathF.Sqrt(hd);
        return Time("attention.vit_b.padded_windows", 4.0 * windows * heads * tokens * tokens * hd, runs,
            () => GlobalAttention.RunWindows(qkv, ld, 0, width, 2 * width, pad, map, windows, tokens, heads, hd, scale, output, width, rel));
    }

    private static KernelTiming Time(string name, double flop, int runs, Action action)
    {
        action();
        double best = double.MaxValue, bestCpu = double.MaxValue;
        using var process = Process.GetCurrentProcess();
        for (int i = 0; i < runs; i++)
        {
            process.Refresh();
            var cpu0 = process.TotalProcessorTime;
            var sw = Stopwatch.StartNew();
            action();
            best = Math.Min(best, sw.Elapsed.TotalMilliseconds);
            process.Refresh();
            bestCpu = Math.Min(bestCpu, (process.TotalProcessorTime - cpu0).TotalMilliseconds);
        }
        return new KernelTiming(name, Math.Round(flop / 1e9, 3), Math.Round(best, 2), Math.Round(flop / 1e9 / (best / 1000), 1),
            Math.Round(flop / 1e9 / (Math.Max(bestCpu, 1e-3) / 1000), 1));
    }

    private static float[] Random(Random rng, int count)
    {
        var x = new float[count];
        for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
        return x;
    }
}
